package deploy_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// scaledObject mirrors the fields of KEDA's keda.sh/v1alpha1 ScaledObject
// that keda-scaledobject.yaml uses: KEDA's Go module is too heavy for a test
// dependency, so the example decodes strictly into this (a field it does not
// list is an error here, so extend it when the example grows).
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior map[string]any `json:"behavior"`
			} `json:"horizontalPodAutoscalerConfig"`
		} `json:"advanced"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

// kustomization mirrors the fields of kustomization.yaml (kustomize's API is
// not a dependency either).
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string `json:"resources"`
	Images          []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

type manifests struct {
	configMap      *corev1.ConfigMap
	deployment     *appsv1.Deployment
	pdb            *policyv1.PodDisruptionBudget
	service        *corev1.Service
	secret         *corev1.Secret
	serviceMonitor *monitoringv1.ServiceMonitor
	scaledObject   *scaledObject
	kustomization  *kustomization
}

// loadManifests decodes every document of deploy/kubernetes/*.yaml strictly
// (an unknown or misspelt field is an error) into the type its kind names.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var m manifests
	for _, f := range files {
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(readFile(t, f)), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s[%d]: %v", f, i, err)
			}
			var into any
			wantAPI := ""
			switch tm.Kind {
			case "ConfigMap":
				m.configMap, into, wantAPI = &corev1.ConfigMap{}, &m.configMap, "v1"
			case "Secret":
				m.secret, into, wantAPI = &corev1.Secret{}, &m.secret, "v1"
			case "Service":
				m.service, into, wantAPI = &corev1.Service{}, &m.service, "v1"
			case "Deployment":
				m.deployment, into, wantAPI = &appsv1.Deployment{}, &m.deployment, "apps/v1"
			case "PodDisruptionBudget":
				m.pdb, into, wantAPI = &policyv1.PodDisruptionBudget{}, &m.pdb, "policy/v1"
			case "ServiceMonitor":
				m.serviceMonitor, into, wantAPI = &monitoringv1.ServiceMonitor{}, &m.serviceMonitor, "monitoring.coreos.com/v1"
			case "ScaledObject":
				m.scaledObject, into, wantAPI = &scaledObject{}, &m.scaledObject, "keda.sh/v1alpha1"
			case "Kustomization":
				m.kustomization, into, wantAPI = &kustomization{}, &m.kustomization, "kustomize.config.k8s.io/v1beta1"
			default:
				t.Fatalf("%s[%d]: unexpected kind %q", f, i, tm.Kind)
			}
			if tm.APIVersion != wantAPI {
				t.Errorf("%s: %s apiVersion %q, want %q", f, tm.Kind, tm.APIVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Errorf("%s: %s: %v", f, tm.Kind, err)
			}
		}
	}
	for name, got := range map[string]bool{
		"ConfigMap": m.configMap != nil, "Deployment": m.deployment != nil, "PodDisruptionBudget": m.pdb != nil,
		"Service": m.service != nil, "ServiceMonitor": m.serviceMonitor != nil, "ScaledObject": m.scaledObject != nil,
		"Kustomization": m.kustomization != nil, "Secret (example)": m.secret != nil,
	} {
		if !got {
			t.Fatalf("no %s in deploy/kubernetes", name)
		}
	}
	return m
}

func TestKubernetes(t *testing.T) {
	m := loadManifests(t)
	d := m.deployment
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	// The config the pods run: the ConfigMap's file, where --config points.
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) || c.Args[0] != "run" {
		t.Fatalf("args %q: want run --config FILE", c.Args)
	}
	dir, key := filepath.Split(c.Args[i+1])
	var mounted string
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(dir) {
			mounted = vm.Name
		}
	}
	vi := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == mounted })
	if vi < 0 || pod.Volumes[vi].ConfigMap == nil || pod.Volumes[vi].ConfigMap.Name != m.configMap.Name {
		t.Fatalf("%s is not ConfigMap %s", dir, m.configMap.Name)
	}
	text, ok := m.configMap.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", m.configMap.Name, key)
	}

	t.Run("config validates", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), key)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		validate(t, path, map[string]string{"USERFLOW_API_KEY": "ak_from_the_secret"})
	})
	cfg := parseSyncConfig(t, []byte(text))

	t.Run("API key from the Secret", func(t *testing.T) {
		ei := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "USERFLOW_API_KEY" })
		if ei < 0 || c.Env[ei].ValueFrom == nil || c.Env[ei].ValueFrom.SecretKeyRef == nil {
			t.Fatal("USERFLOW_API_KEY does not come from a Secret")
		}
		ref := c.Env[ei].ValueFrom.SecretKeyRef
		if ref.Name != m.secret.Name {
			t.Errorf("secret %q, the example is %q", ref.Name, m.secret.Name)
		}
		if _, ok := m.secret.StringData[ref.Key]; !ok {
			t.Errorf("the example Secret has no key %q", ref.Key)
		}
		if strings.Contains(text, "ak_") {
			t.Error("an API key in the ConfigMap")
		}
	})

	t.Run("probes", func(t *testing.T) {
		host, port, err := net.SplitHostPort(cfg.Metrics.Listen)
		if err != nil || host != "0.0.0.0" {
			t.Fatalf("metrics.listen %q: want 0.0.0.0:PORT, reachable by the kubelet", cfg.Metrics.Listen)
		}
		pi := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
		if pi < 0 || strconv.Itoa(int(c.Ports[pi].ContainerPort)) != port {
			t.Fatalf("container port metrics %v, want %s", c.Ports, port)
		}
		for name, tc := range map[string]struct {
			p    *corev1.Probe
			path string
		}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
			if tc.p == nil || tc.p.HTTPGet == nil {
				t.Errorf("%s probe: none", name)
				continue
			}
			g := tc.p.HTTPGet
			if g.Path != tc.path || (g.Port.String() != "metrics" && g.Port.String() != port) {
				t.Errorf("%s probe: %s on %s, want %s on metrics", name, g.Path, g.Port.String(), tc.path)
			}
		}
	})

	t.Run("drain before SIGKILL", func(t *testing.T) {
		g := pod.TerminationGracePeriodSeconds
		if g == nil || time.Duration(*g)*time.Second <= cfg.drainTimeout(t) {
			t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown.drain_timeout %v", g, cfg.drainTimeout(t))
		}
		if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
			t.Errorf("rolling update %+v: want maxUnavailable 0", s)
		}
	})

	t.Run("resources and security", func(t *testing.T) {
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("resources %+v: want cpu and memory requests and a memory limit", r)
		}
		if r.Limits.Memory().Cmp(*r.Requests.Memory()) < 0 {
			t.Error("memory limit below the request")
		}
		sc := c.SecurityContext
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
			sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("want runAsNonRoot and a read-only root filesystem")
		}
	})

	t.Run("selectors", func(t *testing.T) {
		podLabels := labels.Set(d.Spec.Template.Labels)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(podLabels) {
			t.Errorf("the Deployment's selector does not match its pods: %v", err)
		}
		sel, err = metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
		if err != nil || !sel.Matches(podLabels) {
			t.Errorf("the PodDisruptionBudget does not select the pods: %v", err)
		}
		if m.pdb.Spec.MaxUnavailable == nil && m.pdb.Spec.MinAvailable == nil {
			t.Error("the PodDisruptionBudget limits nothing")
		}
		if !labels.SelectorFromSet(m.service.Spec.Selector).Matches(podLabels) {
			t.Error("the Service does not select the pods")
		}
		spi := slices.IndexFunc(m.service.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" })
		if spi < 0 || m.service.Spec.Ports[spi].TargetPort.String() != "metrics" {
			t.Errorf("Service ports %v: want metrics -> metrics", m.service.Spec.Ports)
		}
		sel, err = metav1.LabelSelectorAsSelector(&m.serviceMonitor.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(m.service.Labels)) {
			t.Errorf("the ServiceMonitor does not select the Service: %v", err)
		}
		if eps := m.serviceMonitor.Spec.Endpoints; len(eps) != 1 || eps[0].Port != "metrics" || eps[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v: want port metrics, path /metrics", eps)
		}
	})

	t.Run("KEDA", func(t *testing.T) {
		so := m.scaledObject.Spec
		if so.ScaleTargetRef.Name != d.Name {
			t.Errorf("scales %q, not the Deployment %q", so.ScaleTargetRef.Name, d.Name)
		}
		if so.MinReplicaCount == nil || so.MaxReplicaCount == nil || *so.MinReplicaCount < 1 || *so.MaxReplicaCount < *so.MinReplicaCount {
			t.Fatalf("replica bounds %v..%v", so.MinReplicaCount, so.MaxReplicaCount)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas > *so.MaxReplicaCount {
			t.Errorf("the Deployment's %v replicas exceed maxReplicaCount %d (the partition count)", d.Spec.Replicas, *so.MaxReplicaCount)
		}
		if len(so.Triggers) != 1 || so.Triggers[0].Type != "kafka" {
			t.Fatalf("triggers %+v: want one kafka trigger", so.Triggers)
		}
		md := so.Triggers[0].Metadata
		if md["consumerGroup"] != cfg.Kafka.GroupID || md["offsetResetPolicy"] != cfg.Kafka.StartOffset ||
			md["allowIdleConsumers"] != "false" || md["lagThreshold"] == "" {
			t.Errorf("kafka trigger %v: want consumerGroup %q, offsetResetPolicy %q, allowIdleConsumers false, a lagThreshold",
				md, cfg.Kafka.GroupID, cfg.Kafka.StartOffset)
		}
		if !slices.Contains(cfg.Kafka.Brokers, md["bootstrapServers"]) {
			t.Errorf("bootstrapServers %q, the config's brokers %v", md["bootstrapServers"], cfg.Kafka.Brokers)
		}
	})

	t.Run("kustomization", func(t *testing.T) {
		k := m.kustomization
		for _, r := range k.Resources {
			if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
				t.Errorf("resource %s: %v", r, err)
			}
		}
		for _, f := range []string{"configmap.yaml", "deployment.yaml", "pdb.yaml", "service.yaml"} {
			if !slices.Contains(k.Resources, f) {
				t.Errorf("kustomization.yaml does not list %s", f)
			}
		}
		// The optional ones are named, commented out.
		raw := readFile(t, "kubernetes/kustomization.yaml")
		for _, f := range []string{"servicemonitor.yaml", "keda-scaledobject.yaml"} {
			if !bytes.Contains(raw, []byte("# - "+f)) {
				t.Errorf("kustomization.yaml does not mention the optional %s", f)
			}
		}
		if len(k.Images) != 1 || k.Images[0].Name != c.Image[:strings.LastIndex(c.Image, ":")] {
			t.Errorf("images %+v do not set the Deployment's image %q", k.Images, c.Image)
		}
	})
}
