//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"runbook-operator/internal/devcluster"
)

var _ = Describe("the node agent", func() {
	It("keeps a pod whose health check fails out of Ready, judging by its readiness probe", func(ctx SpecContext) {
		labels := map[string]string{"app": "e2e-unhealthy"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-unhealthy", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						// The version comes from the image tag; 2.0.0 is declared unhealthy.
						Name: "web", Image: "demoapp:2.0.0", Args: []string{"serve"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}},
						Env:   append(dbEnv(), corev1.EnvVar{Name: "DEMOAPP_UNHEALTHY_VERSIONS", Value: "2.0.0"}),
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/api/v1/health/", Port: intstr.FromInt32(8000)}}},
					}}},
				},
			},
		}
		_, err := clientset.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = clientset.AppsV1().Deployments(ns).Delete(ctx, dep.Name, metav1.DeleteOptions{})
		})
		var pod corev1.Pod
		Eventually(func(g Gomega) {
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=e2e-unhealthy"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
			pod = pods.Items[0]
			g.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
			g.Expect(pod.Status.ContainerStatuses[0].State.Running).NotTo(BeNil())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("getting 503 from the process on " + pod.Status.PodIP)
		Eventually(func() int {
			resp, err := http.Get(fmt.Sprintf("http://%s/api/v1/health/", net.JoinHostPort(pod.Status.PodIP, "8000")))
			if err != nil {
				return 0
			}
			_ = resp.Body.Close()
			return resp.StatusCode
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Equal(http.StatusServiceUnavailable))

		By("seeing the pod Running but never Ready")
		Consistently(func(g Gomega) {
			p, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(p.Status.ContainerStatuses[0].Ready).To(BeFalse())
		}).WithContext(ctx).WithTimeout(4 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("runs init containers first, in order, before the main container", func(ctx SpecContext) {
		// HOME is the pod's folder on the host, shared by its containers.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-init", Namespace: ns},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{
					{Name: "first", Image: "demoapp:1.0.0", Command: []string{"sh", "-c", `echo first > "$HOME/order"`}},
					{Name: "second", Image: "demoapp:1.0.0", Command: []string{"sh", "-c", `echo second >> "$HOME/order"`}},
				},
				Containers: []corev1.Container{{Name: "main", Image: "demoapp:1.0.0",
					Command: []string{"sh", "-c", `cat "$HOME/order" > /dev/termination-log`}}},
			},
		}
		_, err := clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		})
		var got *corev1.Pod
		Eventually(func(g Gomega) corev1.PodPhase {
			got, err = clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			return got.Status.Phase
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(corev1.PodSucceeded))
		Expect(got.Status.InitContainerStatuses).To(HaveLen(2))
		for _, st := range got.Status.InitContainerStatuses {
			Expect(st.State.Terminated).NotTo(BeNil(), st.Name)
			Expect(st.State.Terminated.ExitCode).To(BeZero(), st.Name)
		}
		// "/dev/termination-log" in the command was rewritten to the host file.
		Expect(got.Status.ContainerStatuses[0].State.Terminated.Message).To(Equal("first\nsecond\n"))
	}, SpecTimeout(2*time.Minute))

	It("serves container logs through the API server (kubectl logs)", func(ctx SpecContext) {
		j := job("e2e-logs", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "collectstatic", Image: "demoapp:1.0.0", Args: []string{"collectstatic", "--noinput"},
		})
		_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobComplete))
		pod := jobPod(ctx, j.Name)
		logs, err := clientset.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "collectstatic"}).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(logs)).To(ContainSubstring("static files copied to"))
		var result map[string]any
		Expect(json.Unmarshal([]byte(pod.Status.ContainerStatuses[0].State.Terminated.Message), &result)).To(Succeed())
		Expect(result).To(HaveKeyWithValue("files", BeNumerically("==", 4)))
	}, SpecTimeout(2*time.Minute))

	It("runs the operator's agent image: a backup Job streams the demo database to S3", func(ctx SpecContext) {
		if binaries["agent"] == "" {
			Fail("cmd/agent was not built")
		}
		key := fmt.Sprintf("e2e/%d/saas_production.dump", time.Now().UnixNano())
		j := job("e2e-agent-backup", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "backup", Image: "ghcr.io/runbook-operator/runbook-operator:latest",
			Command: []string{"/agent", "backup", "--bucket", devcluster.DemoBucket, "--key", key,
				"--endpoint", cluster.S3.Endpoint, "--region", cluster.S3.Region, "--path-style",
				"--termination-log", "/dev/termination-log"},
			Env: dbEnv(),
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: devcluster.DemoS3Secret}}}},
		})
		_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(2*time.Minute).Should(Equal(batchv1.JobComplete),
			func() string {
				pod := jobPod(ctx, j.Name)
				logs, _ := clientset.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).Stream(ctx)
				if logs == nil {
					return ""
				}
				defer func() { _ = logs.Close() }()
				b, _ := io.ReadAll(logs)
				return string(b)
			})
		term := jobPod(ctx, j.Name).Status.ContainerStatuses[0].State.Terminated
		var result struct {
			Command   string `json:"command"`
			Location  string `json:"location"`
			SizeBytes int64  `json:"sizeBytes"`
			SHA256    string `json:"sha256"`
		}
		Expect(json.Unmarshal([]byte(term.Message), &result)).To(Succeed(), term.Message)
		Expect(result.Command).To(Equal("backup"))
		Expect(result.Location).To(Equal("s3://" + devcluster.DemoBucket + "/" + key))
		Expect(result.SHA256).To(HaveLen(64))
		fi, err := os.Stat(filepath.Join(cluster.S3.RootDir, devcluster.DemoBucket, key))
		Expect(err).NotTo(HaveOccurred(), "the dump is in the bucket's folder")
		Expect(fi.Size()).To(Equal(result.SizeBytes))
	}, SpecTimeout(3*time.Minute))
})
