//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"runbook-operator/internal/demo"
	"runbook-operator/internal/devcluster"
)

var _ = Describe("the node agent", func() {
	It("runs init containers first, in order, before the main container", func(ctx SpecContext) {
		// HOME is the pod's folder on the host, shared by its containers.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-init", Namespace: ns},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{
					{Name: "first", Image: demo.DemoAppImage, Command: []string{"sh", "-c", `echo first > "$HOME/order"`}},
					{Name: "second", Image: demo.DemoAppImage, Command: []string{"sh", "-c", `echo second >> "$HOME/order"`}},
				},
				Containers: []corev1.Container{{Name: "main", Image: demo.DemoAppImage,
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

	It("reports failed probes as the kubelet does: Warning Unhealthy with the probe's answer, once a minute while unchanged", func(ctx SpecContext) {
		// A server that answers 503 to every request: the pod never becomes Ready.
		// The liveness command fails with output but a threshold the spec never reaches.
		server := `exec /usr/bin/python3 -c '
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503); self.end_headers(); self.wfile.write(b"schema: not migrated")
    def log_message(self, *a): pass
http.server.HTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()'`
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-unready", Namespace: ns},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyAlways,
				Containers: []corev1.Container{{Name: "web", Image: demo.DemoAppImage,
					Command: []string{"sh", "-c", server},
					Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
						ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/api/v1/health/", Port: intstr.FromString("http")}}},
					LivenessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1000,
						ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo cache unreachable; exit 1"}}}},
				}},
			},
		}
		_, err := clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		})
		// What `kubectl describe pod` lists: the pod's Events.
		unhealthy := func(g Gomega) map[string]int32 {
			evs, err := clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Unhealthy"})
			g.Expect(err).NotTo(HaveOccurred())
			counts := map[string]int32{}
			for _, ev := range evs.Items {
				g.Expect(ev.Type).To(Equal(corev1.EventTypeWarning))
				g.Expect(ev.Source.Component).To(Equal("kubelet"))
				counts[ev.Message] += max(ev.Count, 1)
			}
			return counts
		}
		// The first probes may also find the port not yet open ("connection refused"),
		// as the kubelet would: another message, reported once too.
		want := And(
			HaveKeyWithValue("Readiness probe failed: HTTP probe failed with statuscode: 503", int32(1)),
			HaveKeyWithValue("Liveness probe failed: cache unreachable", int32(1)),
			HaveEach(int32(1)))
		Eventually(unhealthy).WithContext(ctx).WithTimeout(time.Minute).Should(want)
		got, err := clientset.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status.ContainerStatuses).To(HaveLen(1))
		Expect(got.Status.ContainerStatuses[0].Ready).To(BeFalse())
		Expect(got.Status.ContainerStatuses[0].RestartCount).To(BeZero())
		// Probes keep failing every second; the unchanged messages are not repeated
		// within the minute (the kubelet's spam filter would otherwise mute the pod's
		// other Warnings after 25).
		Consistently(unhealthy).WithContext(ctx).WithTimeout(5 * time.Second).Should(want)
	}, SpecTimeout(2*time.Minute))

	It("serves container logs through the API server (kubectl logs)", func(ctx SpecContext) {
		j := job("e2e-logs", 0, corev1.RestartPolicyNever, demo.AppContainer("collectstatic", demo.AppTag, devcluster.DemoDBSecret,
			"python", "manage.py", "collectstatic", "--noinput"))
		_, err := clientset.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		deleteJob(j.Name)
		Eventually(jobCondition(ctx, j.Name)).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(batchv1.JobComplete))
		pod := jobPod(ctx, j.Name)
		logs, err := clientset.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "collectstatic"}).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		// Django's own report; STATIC_ROOT defaults to the image's /app/staticfiles,
		// the tag's folder on the devcluster.
		root := filepath.Join(cluster.SaaSTags[demo.AppTag], "staticfiles")
		Expect(string(logs)).To(MatchRegexp(`\d+ static files? copied to '%s'`, regexp.QuoteMeta(root)))
		Expect(filepath.Join(root, "css", "app.css")).To(BeAnExistingFile())
	}, SpecTimeout(2*time.Minute))

	It("runs the operator's agent image: a backup Job streams the demo database to S3", func(ctx SpecContext) {
		if binaries["agent"] == "" {
			Fail("cmd/agent was not built")
		}
		key := fmt.Sprintf("e2e/%d/saas_production.dump", time.Now().UnixNano())
		j := job("e2e-agent-backup", 0, corev1.RestartPolicyNever, corev1.Container{
			Name: "backup", Image: devcluster.AgentImage,
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
