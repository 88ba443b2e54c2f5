//go:build e2e

package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	It("marks a Job Failed when its process fails, with exit code and message", func(ctx SpecContext) {
		j := job("e2e-fail", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "fail", Image: demo.DemoAppImage, Command: []string{"sh", "-c", `printf "disk full" > /dev/termination-log; exit 3`},
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
			Name: "retry", Image: demo.DemoAppImage,
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
