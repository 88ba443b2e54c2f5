//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"runbook-operator/internal/demo"
)

// The runbook's Django application (test/saas), run for real by the node agent:
// Debian's Django, gunicorn, Celery and Redis. The specs share one database of their
// own and run in order: 1.0.0 migrates it, 1.1.0 plans, 1.3.0 fails, the web serves.
var _ = Describe("the runbook's application, image saas", Ordered, func() {
	const (
		saasDB       = "e2e_saas"
		saasDBSecret = "e2e-saas-db"
	)

	// runManage runs `python manage.py ARGS` of tag as a Job and returns its pod once
	// the Job is finished.
	runManage := func(ctx context.Context, name, tag string, args ...string) corev1.Pod {
		GinkgoHelper()
		j := demo.ManageJob(name, tag, saasDBSecret, args...)
		j.Namespace = ns
		Expect(k8sClient.Create(ctx, j)).To(Succeed())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(2 * time.Minute).Should(
			Or(Equal(batchv1.JobComplete), Equal(batchv1.JobFailed)))
		Eventually(func(g Gomega) {
			p := jobPod(ctx, j.Name)
			g.Expect(p.Status.ContainerStatuses).To(HaveLen(1))
			g.Expect(p.Status.ContainerStatuses[0].State.Terminated).NotTo(BeNil())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		return jobPod(ctx, j.Name)
	}
	logsOf := func(ctx context.Context, pod corev1.Pod) string {
		GinkgoHelper()
		b, err := clientset.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		return string(b)
	}
	query := func(ctx context.Context, sql string) []string {
		GinkgoHelper()
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(saasDB))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(ctx, sql)
		Expect(err).NotTo(HaveOccurred())
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		Expect(err).NotTo(HaveOccurred())
		return out
	}
	applied := func(ctx context.Context) []string {
		return query(ctx, "SELECT name FROM django_migrations WHERE app = 'subscriptions' ORDER BY name")
	}

	BeforeAll(func(ctx SpecContext) {
		admin, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+saasDB+" WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
		_, err = admin.Exec(ctx, "CREATE DATABASE "+saasDB)
		_ = admin.Close(context.Background())
		Expect(err).NotTo(HaveOccurred())
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: saasDBSecret, Namespace: ns}, StringData: map[string]string{
			"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port), "dbname": saasDB,
			"user": cluster.Postgres.User, "password": cluster.Postgres.Password}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		})
	})

	It("migrates a new database with 1.0.0's python manage.py migrate and seeds it with its own command", func(ctx SpecContext) {
		pod := runManage(ctx, "e2e-saas-migrate", "1.0.0", "migrate")
		Expect(pod.Status.Phase).To(Equal(corev1.PodSucceeded), logsOf(ctx, pod))
		Expect(logsOf(ctx, pod)).To(ContainSubstring("Applying subscriptions.0001_initial... OK"))
		Expect(applied(ctx)).To(Equal([]string{"0001_initial"}))
		Expect(query(ctx, "SELECT app || '.' || name FROM django_migrations WHERE name = '0001_initial' AND app IN ('accounts', 'organizations') ORDER BY app")).
			To(Equal([]string{"accounts.0001_initial", "organizations.0001_initial"}))

		pod = runManage(ctx, "e2e-saas-seed", "1.0.0", "seed", "--organizations", "20")
		Expect(pod.Status.Phase).To(Equal(corev1.PodSucceeded), logsOf(ctx, pod))
		Expect(query(ctx, "SELECT count(*)::text FROM accounts_user")).To(Equal([]string{"100"}))
		Expect(query(ctx, "SELECT count(*)::text FROM organizations_organization")).To(Equal([]string{"20"}))
		Expect(query(ctx, "SELECT count(*)::text FROM subscriptions_subscription WHERE status = 'active'")).To(Equal([]string{"12"}))
		Expect(query(ctx, "SELECT tax_id FROM organizations_organization ORDER BY id LIMIT 1")[0]).To(HavePrefix("gAAAAA"),
			"tax_id is stored as a Fernet token")
	}, SpecTimeout(3*time.Minute))

	It("plans exactly 1.1.0's new migration on the 1.0.0 database (migrate --plan), applying nothing", func(ctx SpecContext) {
		pod := runManage(ctx, "e2e-saas-plan", "1.1.0", "migrate", "--plan")
		logs := logsOf(ctx, pod)
		Expect(pod.Status.Phase).To(Equal(corev1.PodSucceeded), logs)
		var planned []string
		inPlan := false
		for _, line := range strings.Split(logs, "\n") {
			switch {
			case strings.HasPrefix(line, "Planned operations:"):
				inPlan = true
			case inPlan && line != "" && !strings.HasPrefix(line, " "):
				planned = append(planned, line)
			}
		}
		Expect(planned).To(Equal([]string{"subscriptions.0002_subscription_seats"}), logs)
		Expect(logs).To(ContainSubstring("Add field seats to subscription"))
		Expect(applied(ctx)).To(Equal([]string{"0001_initial"}), "--plan applies nothing")

		pod = runManage(ctx, "e2e-saas-showmigrations", "1.1.0", "showmigrations", "subscriptions")
		Expect(logsOf(ctx, pod)).To(ContainSubstring(" [X] 0001_initial\n [ ] 0002_subscription_seats"))
	}, SpecTimeout(3*time.Minute))

	It("fails 1.3.0's migration with Django's error in the termination message, its failed migration rolled back", func(ctx SpecContext) {
		pod := runManage(ctx, "e2e-saas-migrate-130", "1.3.0", "migrate")
		Expect(pod.Status.Phase).To(Equal(corev1.PodFailed))
		term := pod.Status.ContainerStatuses[0].State.Terminated
		Expect(term.ExitCode).To(Equal(int32(1)))
		Expect(term.Message).To(HavePrefix(`django.db.utils.ProgrammingError: column "plan_currency" does not exist`))
		Expect(logsOf(ctx, pod)).To(ContainSubstring("Applying subscriptions.0003_subscription_currency..."))

		By("0002 is applied (it succeeded before), 0003 is not, and its added column was rolled back")
		Expect(applied(ctx)).To(Equal([]string{"0001_initial", "0002_subscription_seats"}))
		Expect(query(ctx, "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'subscriptions_subscription' AND column_name IN ('seats', 'currency')")).
			To(Equal([]string{"seats"}))
	}, SpecTimeout(3*time.Minute))

	It("serves 1.1.0 from gunicorn: each web pod answers its health with its tag's version; a task it publishes is run by the worker", func(ctx SpecContext) {
		web := demo.AppDeployment("e2e-saas-web", "1.1.0", saasDBSecret, 2)
		worker := demo.WorkerDeployment("e2e-saas-worker", "1.1.0", saasDBSecret, 1)
		// An exec probe runs in the image's working directory too: manage.py is there.
		worker.Spec.Template.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 30, TimeoutSeconds: 20,
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"python", "manage.py", "check"}}}}
		for _, d := range []*appsv1.Deployment{web, worker} {
			d.Namespace = ns
			Expect(k8sClient.Create(ctx, d)).To(Succeed())
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-saas-web", Namespace: ns},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": web.Name}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		Expect(k8sClient.Create(ctx, svc)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, svc) })

		By("waiting for 2 Ready web pods and the worker")
		for _, d := range []*appsv1.Deployment{web, worker} {
			Eventually(func(g Gomega) {
				got := &appsv1.Deployment{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), got)).To(Succeed())
				g.Expect(got.Status.ReadyReplicas).To(Equal(*d.Spec.Replicas))
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		}
		pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + web.Name})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).To(HaveLen(2))
		var ips []string
		for _, p := range pods.Items {
			ips = append(ips, p.Status.PodIP)
			By("asking pod " + p.Name + " for its health on " + p.Status.PodIP)
			code, health := httpJSON(ctx, http.MethodGet, baseURL(p)+"/api/v1/health/", nil, nil)
			Expect(code).To(Equal(http.StatusOK), fmt.Sprint(health))
			Expect(health).To(HaveKeyWithValue("version", "1.1.0"))
			Expect(health).To(HaveKeyWithValue("checks", And(HaveKeyWithValue("database", "ok"), HaveKeyWithValue("redis", "ok"))))
		}
		Expect(ips[0]).NotTo(Equal(ips[1]), "each pod has its own address")
		if cluster.PodCIDR != "" {
			By("seeing both web pods in the Service's EndpointSlice")
			Eventually(func(g Gomega) []string {
				slices, err := clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
				g.Expect(err).NotTo(HaveOccurred())
				var got []string
				for _, s := range slices.Items {
					for _, e := range s.Endpoints {
						if e.Conditions.Ready != nil && *e.Conditions.Ready {
							got = append(got, e.Addresses...)
						}
					}
				}
				return got
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(ConsistOf(ips))
		}
		url := baseURL(pods.Items[0])

		By("serving 1.1.0's new column")
		code, subs := httpJSON(ctx, http.MethodGet, url+"/api/v1/subscriptions/?limit=1", nil, nil)
		Expect(code).To(Equal(http.StatusOK))
		Expect(subs["results"]).To(ContainElement(HaveKeyWithValue("seats", BeNumerically("==", 1))))

		By("publishing a Celery task from the web; the worker runs it")
		workers, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + worker.Name})
		Expect(err).NotTo(HaveOccurred())
		Expect(workers.Items).To(HaveLen(1))
		token := fmt.Sprint(time.Now().UnixNano())
		code, published := httpJSON(ctx, http.MethodPost, url+"/api/v1/tasks/", map[string]string{"token": token}, nil)
		Expect(code).To(Equal(http.StatusAccepted), fmt.Sprint(published))
		Eventually(func(g Gomega) map[string]any {
			_, r := httpJSON(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/tasks/%s/", url, published["task_id"]), nil, nil)
			g.Expect(r).To(HaveKeyWithValue("state", "SUCCESS"))
			return r["result"].(map[string]any)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(And(
			HaveKeyWithValue("token", token),
			HaveKeyWithValue("worker", workers.Items[0].Name),
			HaveKeyWithValue("version", "1.1.0")))

		By("storing a value through the Fernet field and reading it back from the other pod")
		code, org := httpJSON(ctx, http.MethodPost, url+"/api/v1/organizations/", map[string]string{"name": "E2E Corp", "tax_id": "DE999"}, nil)
		Expect(code).To(Equal(http.StatusCreated), fmt.Sprint(org))
		stored := query(ctx, fmt.Sprintf("SELECT tax_id FROM organizations_organization WHERE id = %v", org["id"]))
		Expect(stored).To(HaveLen(1))
		Expect(stored[0]).NotTo(ContainSubstring("DE999"))
		code, back := httpJSON(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/organizations/%v/", baseURL(pods.Items[1]), org["id"]), nil, nil)
		Expect(code).To(Equal(http.StatusOK))
		Expect(back).To(HaveKeyWithValue("tax_id", "DE999"))
		Expect(back).To(HaveKeyWithValue("tax_id_key", BeNumerically("==", 0)))

		By("signing a session on one pod and checking it on the other")
		jar, _ := cookiejar.New(nil)
		code, _ = httpJSON(ctx, http.MethodPost, url+"/api/v1/session/", map[string]string{"user": "alice"}, jar)
		Expect(code).To(Equal(http.StatusOK))
		other := baseURL(pods.Items[1])
		for _, c := range jar.Cookies(mustParse(url)) { // the cookie was set for the first pod's address
			jar.SetCookies(mustParse(other), []*http.Cookie{c})
		}
		code, sess := httpJSON(ctx, http.MethodGet, other+"/api/v1/session/", nil, jar)
		Expect(code).To(Equal(http.StatusOK))
		Expect(sess).To(HaveKeyWithValue("user", "alice"))
		code, _ = httpJSON(ctx, http.MethodGet, other+"/api/v1/session/", nil, nil)
		Expect(code).To(Equal(http.StatusUnauthorized), "no cookie, no session")

		By("deleting the Deployments: their processes stop")
		for _, d := range []*appsv1.Deployment{web, worker} {
			Expect(k8sClient.Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		}
		Eventually(func(g Gomega) []corev1.Pod {
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app in (e2e-saas-web, e2e-saas-worker)"})
			g.Expect(err).NotTo(HaveOccurred())
			return pods.Items
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
		for _, ip := range ips {
			_, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "8000"), time.Second)
			Expect(err).To(HaveOccurred(), "gunicorn behind %s still listens", ip)
		}
	}, SpecTimeout(4*time.Minute))

	It("keeps 1.2.0's web pods out of Ready: migrate has nothing to do, and its health names the column it lacks", func(ctx SpecContext) {
		pod := runManage(ctx, "e2e-saas-migrate-120", "1.2.0", "migrate")
		Expect(pod.Status.Phase).To(Equal(corev1.PodSucceeded), logsOf(ctx, pod))
		Expect(logsOf(ctx, pod)).To(ContainSubstring("No migrations to apply."))

		web := demo.AppDeployment("e2e-saas-broken", "1.2.0", saasDBSecret, 1)
		web.Namespace = ns
		Expect(k8sClient.Create(ctx, web)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, web) })
		var p corev1.Pod
		Eventually(func(g Gomega) {
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + web.Name})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
			p = pods.Items[0]
			g.Expect(p.Status.PodIP).NotTo(BeEmpty())
			code, _ := httpJSON(ctx, http.MethodGet, baseURL(p)+"/api/v1/health/", nil, nil)
			g.Expect(code).NotTo(BeZero(), "gunicorn answers")
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		code, health := httpJSON(ctx, http.MethodGet, baseURL(p)+"/api/v1/health/", nil, nil)
		Expect(code).To(Equal(http.StatusServiceUnavailable))
		Expect(health).To(HaveKeyWithValue("version", "1.2.0"))
		Expect(health).To(HaveKeyWithValue("failed", ConsistOf("schema")))
		Expect(health).To(HaveKeyWithValue("checks", HaveKeyWithValue("schema", ContainSubstring(`column "renewal_reminder_sent" does not exist`))))
		Consistently(func(g Gomega) {
			got, err := clientset.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(got.Status.ContainerStatuses[0].Ready).To(BeFalse())
		}).WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("reports a tag the image does not have as ErrImagePull, as a kubelet does", func(ctx SpecContext) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-saas-no-such-tag", Namespace: ns},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{
				{Name: "web", Image: "ghcr.io/acme/saas:9.9.9", Command: []string{"gunicorn", "saas.wsgi"}}}},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0)) })
		Eventually(func(g Gomega) *corev1.ContainerStateWaiting {
			got, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Status.ContainerStatuses).To(HaveLen(1))
			return got.Status.ContainerStatuses[0].State.Waiting
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(And(
			HaveField("Reason", "ErrImagePull"),
			HaveField("Message", ContainSubstring("1.0.0, 1.1.0, 1.2.0, 1.3.0"))))
	}, SpecTimeout(time.Minute))
})

func baseURL(p corev1.Pod) string {
	return "http://" + net.JoinHostPort(p.Status.PodIP, "8000")
}

func mustParse(raw string) *url.URL {
	GinkgoHelper()
	u, err := url.Parse(raw)
	Expect(err).NotTo(HaveOccurred())
	return u
}

// httpJSON sends body as JSON (when not nil) and decodes the JSON answer; the code is
// 0 when the server could not be reached.
func httpJSON(ctx context.Context, method, target string, body any, jar http.CookieJar) (int, map[string]any) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return 0, nil
	}
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}
