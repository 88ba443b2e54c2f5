//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

const ns = devcluster.DemoNamespace

// dbEnv maps the demo-db Secret to the PG* variables the demo app reads.
func dbEnv() []corev1.EnvVar { return dbEnvFrom(devcluster.DemoDBSecret) }

func dbEnvFrom(secret string) []corev1.EnvVar { return demo.DBEnv(secret) }

func job(name string, backoffLimit int32, policy corev1.RestartPolicy, c corev1.Container) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(backoffLimit),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: policy,
				Containers:    []corev1.Container{c},
			}},
		},
	}
}

func jobCondition(ctx context.Context, name string) func(g Gomega) batchv1.JobConditionType {
	return func(g Gomega) batchv1.JobConditionType {
		j, err := clientset.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				return c.Type
			}
		}
		return ""
	}
}

func jobPod(ctx context.Context, name string) corev1.Pod {
	pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name})
	Expect(err).NotTo(HaveOccurred())
	Expect(pods.Items).NotTo(BeEmpty())
	return pods.Items[0]
}

func deleteJob(name string) {
	DeferCleanup(func(ctx SpecContext) {
		_ = clientset.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})
}

var _ = Describe("the devcluster", func() {
	It("keeps its node Ready with a fresh Lease", func(ctx SpecContext) {
		node, err := clientset.CoreV1().Nodes().Get(ctx, devcluster.DefaultNodeName, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(node.Status.Conditions).To(ContainElement(And(
			HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
		lease, err := clientset.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(time.Since(lease.Spec.RenewTime.Time)).To(BeNumerically("<", 40*time.Second))
	})

	It("runs a Deployment of demoapp whose Ready pods answer the health check on their pod IPs", func(ctx SpecContext) {
		labels := map[string]string{"app": "e2e-web"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "web", Image: "demoapp:1.0.0", Args: []string{"serve"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}},
						Env:   dbEnv(),
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/api/v1/health/", Port: intstr.FromString("http")}}},
					}}},
				},
			},
		}
		_, err := clientset.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-web", Namespace: ns},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		_, err = clientset.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("waiting for two Ready replicas")
		Eventually(func(g Gomega) int32 {
			d, err := clientset.AppsV1().Deployments(ns).Get(ctx, dep.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			return d.Status.ReadyReplicas
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(int32(2)))

		pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=e2e-web"})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).To(HaveLen(2))
		var ips []string
		for _, p := range pods.Items {
			Expect(p.Status.PodIP).NotTo(BeEmpty())
			ips = append(ips, p.Status.PodIP)
			By("asking pod " + p.Name + " for its health on " + p.Status.PodIP)
			resp, err := http.Get(fmt.Sprintf("http://%s/api/v1/health/", net.JoinHostPort(p.Status.PodIP, "8000")))
			Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
			var health map[string]any
			Expect(json.Unmarshal(body, &health)).To(Succeed())
			Expect(health).To(HaveKeyWithValue("database", "ok"))
			Expect(health).To(HaveKeyWithValue("version", "1.0.0"))
		}
		Expect(ips[0]).NotTo(Equal(ips[1]), "each pod has its own address")

		if cluster.PodCIDR != "" {
			By("seeing both pods in the Service's EndpointSlice")
			Eventually(func(g Gomega) []string {
				slices, err := clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=e2e-web"})
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

		By("deleting the Deployment: garbage collection removes the pods and their processes stop")
		Expect(clientset.AppsV1().Deployments(ns).Delete(ctx, dep.Name, metav1.DeleteOptions{
			PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})).To(Succeed())
		Eventually(func(g Gomega) []corev1.Pod {
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=e2e-web"})
			g.Expect(err).NotTo(HaveOccurred())
			return pods.Items
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
		for _, ip := range ips {
			_, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "8000"), time.Second)
			Expect(err).To(HaveOccurred(), "the process behind %s still listens", ip)
		}
		Expect(clientset.CoreV1().Services(ns).Delete(ctx, svc.Name, metav1.DeleteOptions{})).To(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("runs a Job's process to completion and returns its termination message", func(ctx SpecContext) {
		By("giving the Job a database of its own")
		const dbname = "e2e_jobs"
		admin, err := pgx.Connect(ctx, cluster.Postgres.DSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		_, err = admin.Exec(ctx, "CREATE DATABASE "+dbname)
		_ = admin.Close(context.Background())
		Expect(err).NotTo(HaveOccurred())
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "e2e-jobs-db", Namespace: ns}, StringData: map[string]string{
			"host": cluster.Postgres.Host, "port": fmt.Sprint(cluster.Postgres.Port), "dbname": dbname,
			"user": cluster.Postgres.User, "password": cluster.Postgres.Password}}
		_, err = clientset.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		j := job("e2e-migrate", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "migrate", Image: "demoapp:1.1.0",
			Command: []string{"python", "manage.py", "migrate"},
			Env:     append(dbEnvFrom(secret.Name), corev1.EnvVar{Name: "DEMOAPP_VERSION_MIGRATIONS", Value: "1.0.0=1,1.1.0=2"}),
		})
		_, err = clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobComplete))

		pod := jobPod(ctx, j.Name)
		Expect(pod.Status.Phase).To(Equal(corev1.PodSucceeded))
		term := pod.Status.ContainerStatuses[0].State.Terminated
		Expect(term).NotTo(BeNil())
		Expect(term.ExitCode).To(BeZero())
		var result struct {
			OK      bool     `json:"ok"`
			Version string   `json:"version"`
			Applied []string `json:"applied"`
		}
		Expect(json.Unmarshal([]byte(term.Message), &result)).To(Succeed(), term.Message)
		Expect(result.OK).To(BeTrue())
		Expect(result.Version).To(Equal("1.1.0"))
		Expect(result.Applied).To(Equal([]string{"0001_initial", "0002_invoice_status"}))

		By("finding the migrations recorded in the database")
		conn, err := pgx.Connect(ctx, cluster.Postgres.DSN(dbname))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(ctx, "SELECT name FROM django_migrations WHERE app = 'demoapp' ORDER BY name")
		Expect(err).NotTo(HaveOccurred())
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		Expect(err).NotTo(HaveOccurred())
		Expect(names).To(Equal([]string{"0001_initial", "0002_invoice_status"}), "version 1.1.0 ships migrations up to 0002")
		var customers int
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM accounts_customer").Scan(&customers)).To(Succeed())
		Expect(customers).To(Equal(3), "seed data of 0001_initial")
	}, SpecTimeout(2*time.Minute))

	It("marks a Job Failed when its process fails, with exit code and message", func(ctx SpecContext) {
		j := job("e2e-fail", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "fail", Image: "demoapp:1.0.0", Args: []string{"exit", "3", "disk full"},
		})
		_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobFailed))
		pod := jobPod(ctx, j.Name)
		Expect(pod.Status.Phase).To(Equal(corev1.PodFailed))
		term := pod.Status.ContainerStatuses[0].State.Terminated
		Expect(term).NotTo(BeNil())
		Expect(term.ExitCode).To(Equal(int32(3)))
		Expect(term.Reason).To(Equal("Error"))
		Expect(term.Message).To(Equal("disk full"))
	}, SpecTimeout(2*time.Minute))

	It("restarts a failing container under restartPolicy OnFailure", func(ctx SpecContext) {
		// HOME is the pod's folder on the host, kept across restarts.
		j := job("e2e-retry", 3, corev1.RestartPolicyOnFailure, corev1.Container{
			Name: "retry", Image: "demoapp:1.0.0",
			Command: []string{"sh", "-c", `if [ -f "$HOME/tried" ]; then echo second try > "$RUNBOOK_TERMINATION_LOG"; exit 0; fi; touch "$HOME/tried"; exit 1`},
		})
		_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobComplete))
		st := jobPod(ctx, j.Name).Status.ContainerStatuses[0]
		Expect(st.RestartCount).To(Equal(int32(1)))
		Expect(st.LastTerminationState.Terminated).NotTo(BeNil())
		Expect(st.LastTerminationState.Terminated.ExitCode).To(Equal(int32(1)))
		Expect(st.State.Terminated.Message).To(Equal("second try\n"))
	}, SpecTimeout(2*time.Minute))

	It("reports a pod of an unmapped image Running and Ready, and says so in an Event", func(ctx SpecContext) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-redis", Namespace: ns},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}},
		}
		_, err := clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		})
		Eventually(func(g Gomega) {
			p, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(p.Status.Conditions).To(ContainElement(And(
				HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) []corev1.Event {
			evs, err := clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.name=e2e-redis,reason=NotRun"})
			g.Expect(err).NotTo(HaveOccurred())
			return evs.Items
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(ContainElement(
			HaveField("Message", ContainSubstring(`"redis:7"`))))

		By("deleting it: the node agent removes the pod")
		Expect(clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})).To(Succeed())
		Eventually(func() bool {
			_, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeTrue())
	}, SpecTimeout(2*time.Minute))
})
