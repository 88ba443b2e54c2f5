//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"runbook-operator/internal/devcluster"
)

// podLogs returns the output of the pod's first container.
func podLogs(ctx context.Context, pod string) string {
	GinkgoHelper()
	r, err := clientset.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).Stream(ctx)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// podEvents returns the messages of the pod's Events with reason.
func podEvents(ctx context.Context, pod, reason string) []string {
	GinkgoHelper()
	evs, err := clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}

// runJob creates the Job, deletes it after the spec, waits until it completes (or
// fails with its pod's output and status) and returns its pod.
func runJob(ctx context.Context, j *batchv1.Job) corev1.Pod {
	GinkgoHelper()
	_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	deleteJob(j.Name)
	Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(2*time.Minute).Should(Equal(batchv1.JobComplete),
		func() string {
			p := jobPod(ctx, j.Name)
			return podLogs(ctx, p.Name) + fmt.Sprint(p.Status.ContainerStatuses)
		})
	return jobPod(ctx, j.Name)
}

var _ = Describe("the node agent with the operator's image", func() {
	It("runs its pods from the image: as 65532 with a read-only root, a writable /tmp, and the image's PostgreSQL 13, 15 and 17 client tools", func(ctx SpecContext) {
		j := job("e2e-image-tools", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "tools", Image: devcluster.AgentImage,
			Command: []string{"/bin/sh", "-c", `id -u; id -g
touch /etc/x 2>/dev/null && echo root-writable || echo root-read-only
echo x > /tmp/x && echo tmp-writable
for v in 13 15 17; do /usr/lib/postgresql/$v/bin/pg_dump --version; done
test -x /agent && test -x /manager && echo binaries`},
			SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
		})
		pod := runJob(ctx, j)
		logs := podLogs(ctx, pod.Name)
		Expect(logs).To(HavePrefix("65532\n65532\nroot-read-only\ntmp-writable\n"))
		Expect(logs).To(ContainSubstring("pg_dump (PostgreSQL) 13."))
		Expect(logs).To(ContainSubstring("pg_dump (PostgreSQL) 15."))
		Expect(logs).To(ContainSubstring("pg_dump (PostgreSQL) 17."), "the host has no PostgreSQL 17: only the image does")
		Expect(logs).To(HaveSuffix("binaries\n"))
		Expect(podEvents(ctx, pod.Name, "Started")).To(ContainElement(MatchRegexp(`chrooted in image sha256:[0-9a-f]{64} as 65532:65532`)))
	}, SpecTimeout(3*time.Minute))

	It("gives pods the in-cluster configuration: their ServiceAccount's token, the CA and namespace, and KUBERNETES_SERVICE_HOST/PORT of the API server", func(ctx SpecContext) {
		const sa = "/var/run/secrets/kubernetes.io/serviceaccount"
		j := job("e2e-image-incluster", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "incluster", Image: devcluster.AgentImage,
			Command: []string{"/bin/sh", "-c", `echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; cat ` + sa + `/namespace; echo
test -s ` + sa + `/token && echo token
head -1 ` + sa + `/ca.crt`},
			SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
		})
		pod := runJob(ctx, j)
		api, err := url.Parse(cluster.RESTConfig.Host)
		Expect(err).NotTo(HaveOccurred())
		host := api.Host
		Expect(podLogs(ctx, pod.Name)).To(Equal(host + "\n" + ns + "\ntoken\n-----BEGIN CERTIFICATE-----\n"))

		By("the token in the pod's projected volume authenticates as the pod's ServiceAccount, bound to the pod")
		var tokenFile string
		for _, v := range pod.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				matches, _ := filepath.Glob(filepath.Join(cluster.Dir, "pods", ns+"_"+pod.Name+"_*", "volumes", v.Name, "token"))
				Expect(matches).To(HaveLen(1))
				tokenFile = matches[0]
			}
		}
		Expect(tokenFile).NotTo(BeEmpty(), "the ServiceAccount admission plugin added the kube-api-access volume")
		token, err := os.ReadFile(tokenFile)
		Expect(err).NotTo(HaveOccurred())
		review, err := clientset.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: string(token)}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.Authenticated).To(BeTrue(), review.Status.Error)
		Expect(review.Status.User.Username).To(Equal("system:serviceaccount:" + ns + ":default"))
		Expect(review.Status.User.Extra["authentication.kubernetes.io/pod-name"]).To(ConsistOf(pod.Name))
		ca, err := os.ReadFile(filepath.Join(filepath.Dir(tokenFile), "ca.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(ca)).To(Equal(string(cluster.RESTConfig.CAData)), "ca.crt is the API server's CA")
	}, SpecTimeout(3*time.Minute))

	It("reports an image reference the layout does not hold as ErrImagePull, then ImagePullBackOff, and runs nothing", func(ctx SpecContext) {
		image := strings.Replace(devcluster.AgentImage, ":devcluster", ":no-such-tag", 1)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "e2e-image-pull", Namespace: ns}, Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "c", Image: image, Command: []string{"/bin/sh", "-c", "exit 0"}}},
		}}
		_, err := clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		})
		reasons := map[string]string{}
		Eventually(func(g Gomega) map[string]string {
			p, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.ContainerStatuses).To(HaveLen(1))
			if w := p.Status.ContainerStatuses[0].State.Waiting; w != nil {
				reasons[w.Reason] = w.Message
			}
			g.Expect(p.Status.ContainerStatuses[0].State.Running).To(BeNil())
			g.Expect(p.Status.ContainerStatuses[0].State.Terminated).To(BeNil())
			return reasons
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(And(
			HaveKeyWithValue("ErrImagePull", ContainSubstring("manifest for "+image+" not found")),
			HaveKeyWithValue("ImagePullBackOff", ContainSubstring("Back-off pulling image"))))
		Expect(podEvents(ctx, pod.Name, "Failed")).To(ContainElement(ContainSubstring("Failed to pull image")))
		Expect(podEvents(ctx, pod.Name, "Started")).To(BeEmpty())
	}, SpecTimeout(2*time.Minute))
})
