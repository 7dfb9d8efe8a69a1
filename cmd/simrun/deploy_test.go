package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// k8sObject is the part of a Kubernetes object the deploy tests read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		CompletionMode       string   `yaml:"completionMode"`
		Completions          *int     `yaml:"completions"`
		Parallelism          *int     `yaml:"parallelism"`
		BackoffLimitPerIndex *int     `yaml:"backoffLimitPerIndex"`
		AccessModes          []string `yaml:"accessModes"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name         string   `yaml:"name"`
					Image        string   `yaml:"image"`
					Command      []string `yaml:"command"`
					Args         []string `yaml:"args"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// readManifest parses every YAML document of a file under deploy/, strictly
// (an unknown field is an error: a typo would make Kubernetes ignore it).
func readManifest(t *testing.T, name string) []k8sObject {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", name))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []k8sObject
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s does not parse as YAML", name)
		var o k8sObject
		require.NoError(t, node.Decode(&o))
		objs = append(objs, o)
	}
	return objs
}

func findKind(t *testing.T, objs []k8sObject, kind string) k8sObject {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind {
			return o
		}
	}
	t.Fatalf("no %s in the manifest", kind)
	return k8sObject{}
}

// simrunLine returns the simrun command of a container's shell script.
func simrunLine(t *testing.T, o k8sObject) []string {
	t.Helper()
	c := o.Spec.Template.Spec.Containers
	require.Len(t, c, 1)
	require.Equal(t, []string{"/bin/sh", "-c"}, c[0].Command)
	require.Len(t, c[0].Args, 1)
	for _, line := range strings.Split(c[0].Args[0], "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "simrun" {
			return f[1:]
		}
	}
	t.Fatalf("no simrun line in %q", c[0].Args[0])
	return nil
}

func flagValue(args []string, name string) (string, int) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1], i + 1
		}
	}
	return "", -1
}

// TestDeployManifestsAreAnIndexedSweepAndItsMerge checks the Kubernetes
// manifests under deploy/: an Indexed Job whose pods each run one shard
// (-shard $JOB_COMPLETION_INDEX/N with N = completions) into a shared
// volume, and a merge Job over the same volume. Then it runs the manifests'
// own simrun lines here, on a small seed range, one per index, merges them
// with the merge Job's line, and compares with the unsharded sweep.
func TestDeployManifestsAreAnIndexedSweepAndItsMerge(t *testing.T) {
	sweepObjs := readManifest(t, "sweep-job.yaml")
	pvc := findKind(t, sweepObjs, "PersistentVolumeClaim")
	assert.Equal(t, "v1", pvc.APIVersion)
	assert.Contains(t, pvc.Spec.AccessModes, "ReadWriteMany", "every pod writes to the results volume")

	job := findKind(t, sweepObjs, "Job")
	assert.Equal(t, "batch/v1", job.APIVersion)
	assert.Equal(t, "Indexed", job.Spec.CompletionMode)
	require.NotNil(t, job.Spec.Completions)
	n := *job.Spec.Completions
	require.Greater(t, n, 1)
	if p := job.Spec.Parallelism; p != nil {
		assert.LessOrEqual(t, *p, n)
	}
	assert.NotNil(t, job.Spec.BackoffLimitPerIndex, "a crashed shard is retried on its own")
	tmpl := job.Spec.Template.Spec
	assert.Equal(t, "Never", tmpl.RestartPolicy)
	require.Len(t, tmpl.Volumes, 1)
	assert.Equal(t, pvc.Metadata.Name, tmpl.Volumes[0].PersistentVolumeClaim.ClaimName)
	mounts := tmpl.Containers[0].VolumeMounts
	require.Len(t, mounts, 1)
	assert.Equal(t, tmpl.Volumes[0].Name, mounts[0].Name)
	mount := mounts[0].MountPath

	args := simrunLine(t, job)
	require.Equal(t, "sweep", args[0])
	shard, _ := flagValue(args, "-shard")
	assert.Equal(t, fmt.Sprintf("$JOB_COMPLETION_INDEX/%d", n), shard, "-shard's N must equal completions")
	jsonPath, _ := flagValue(args, "-json")
	assert.True(t, strings.HasPrefix(jsonPath, mount+"/"), "-json %s is on the shared volume %s", jsonPath, mount)
	assert.Contains(t, jsonPath, "$JOB_COMPLETION_INDEX", "each shard writes its own file")
	replays, _ := flagValue(args, "-replay-dir")
	assert.True(t, strings.HasPrefix(replays, mount+"/"))
	seeds, _ := flagValue(args, "-seeds")
	rng, err := parseSeedRange(seeds)
	require.NoError(t, err)
	assert.LessOrEqual(t, rng.To-rng.From, uint64(maxSweepSeeds), "the whole sweep fits one summary")

	mergeObjs := readManifest(t, "merge-job.yaml")
	merge := findKind(t, mergeObjs, "Job")
	assert.Equal(t, "batch/v1", merge.APIVersion)
	assert.Equal(t, tmpl.Volumes[0].PersistentVolumeClaim.ClaimName, merge.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	margs := simrunLine(t, merge)
	require.Equal(t, "merge", margs[0])

	// Run the manifests' commands here on a small range: the scenario and
	// flags are the manifest's, the volume is a temporary directory.
	dir := t.TempDir()
	local := func(s string, index int) string {
		s = strings.ReplaceAll(s, "$JOB_COMPLETION_INDEX", strconv.Itoa(index))
		return strings.ReplaceAll(s, mount, dir)
	}
	small := fmt.Sprintf("%d:%d", rng.From, rng.From+uint64(40*n))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "replays"), 0o755))
	for i := 0; i < n; i++ {
		shardArgs := make([]string, len(args))
		for k, a := range args {
			shardArgs[k] = local(a, i)
		}
		_, at := flagValue(shardArgs, "-seeds")
		shardArgs[at] = small
		r := cli(shardArgs...)
		require.LessOrEqual(t, r.code, exitFail, r)
	}
	var mergeArgs []string
	for _, a := range margs {
		a = local(a, 0)
		if strings.ContainsAny(a, "*?[") {
			files, err := filepath.Glob(a)
			require.NoError(t, err)
			require.Len(t, files, n, "the merge's glob %s", a)
			mergeArgs = append(mergeArgs, files...)
			continue
		}
		mergeArgs = append(mergeArgs, a)
	}
	mergedPath, _ := flagValue(mergeArgs, "-json")
	require.NoError(t, os.MkdirAll(filepath.Dir(mergedPath), 0o755))
	rm := cli(mergeArgs...)
	require.LessOrEqual(t, rm.code, exitFail, rm)
	assert.True(t, strings.HasPrefix(rm.stdout, fmt.Sprintf("merge of %d files", n)), rm.stdout)

	fullArgs := []string{}
	for k := 0; k < len(args); k++ {
		switch args[k] {
		case "-shard", "-json", "-replay-dir":
			k++
			continue
		case "-seeds":
			fullArgs = append(fullArgs, "-seeds", small)
			k++
			continue
		}
		fullArgs = append(fullArgs, args[k])
	}
	fullPath := filepath.Join(dir, "full.json")
	r := cli(append(fullArgs, "-json", fullPath, "-replay-dir", dir)...)
	require.LessOrEqual(t, r.code, exitFail, r)
	full, merged := readJSON(t, fullPath), readJSON(t, mergedPath)
	for _, k := range []string{"runs", "failures", "failing", "failure_rate", "ci95", "metrics", "probes", "sim_ns", "seeds", "params", "strategy", "scenario", "variant"} {
		assert.Equal(t, full[k], merged[k], k)
	}
}
