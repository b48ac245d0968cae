#!/usr/bin/env bats
# buildx's kubernetes driver (builder.driver: kubernetes) over whole jobs, against the strict
# `docker` stand-in (helpers/docker-standin): no cluster runs on the test machines, so the
# stand-in reads the driver's options as buildx 0.13.1's kubernetes factory does, and
# STANDIN_K8S models a cluster that has no credentials, refuses by RBAC, or never gets its
# pods ready. Hooks are sourced as the agent sources them, on the real dist/ bundles.
# shellcheck disable=SC2030,SC2031,SC2016

bats_require_minimum_version 1.5.0

setup() {
  load helpers/agent
  load helpers/docker-standin
  load_libs
  builder_test_setup 0190f3c2-7a1b-4c4e-9b1e-3f5d2a6c9f
}

k8s='"image":"registry.example.com/app","tags":["1"],"push":true,"oci-labels":false,"builder":{"driver":"kubernetes","driver-opts":["namespace=ci","replicas=2","requests.cpu=500m","nodeselector=kubernetes.io/arch=amd64,pool=build","tolerations=key=build,operator=Exists,effect=NoSchedule"]}'

@test "the stand-in reads kubernetes options as buildx 0.13.1 does" {
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt memory=2g
  assert_output "ERROR: failed to initialize builder k (k0): invalid driver option memory for driver kubernetes"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt replicas=two
  assert_output --partial 'strconv.Atoi: parsing "two": invalid syntax'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt loadbalance=round
  assert_output --partial 'invalid loadbalance "round"'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt requests.cpu=lots
  assert_output --partial "quantities must match the regular expression"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt '"tolerations=key=a,colour=red"'
  assert_output --partial 'invalid tolaration "key=a,colour=red"'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt '"tolerations=key=a,tolerationSeconds=soon"'
  assert_output --partial 'strconv.Atoi: parsing "soon": invalid syntax'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt timeout=5m
  assert_output --partial "invalid driver option timeout for driver kubernetes"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt requests.ephemeral-storage=1Gi
  assert_output --partial "invalid driver option requests.ephemeral-storage for driver kubernetes"
  run -0 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --driver kubernetes --driver-opt '"nodeselector=a=b,c=d"' --bootstrap
  run -0 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name k --append --driver kubernetes --platform linux/arm64 --bootstrap
  run standin_builders
  assert_output "k"
  run -0 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name d --driver docker-container
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name d --append --driver kubernetes
  assert_output --partial 'existing instance for "d" but has mismatched driver "docker-container"'
}

@test "a per-job kubernetes builder: created with the options, built on, removed by pre-exit" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}"
  export BUILDKITE_COMMAND='echo "step saw digest $BUILDKIT_IMAGE_DIGEST"'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  assert_output --partial "buildkit: engine buildx-kubernetes: builder.driver is kubernetes (BuildKit pods in the cluster)"
  assert_output --regexp "step saw digest sha256:[0-9a-f]{64}"
  run standin_builder_calls
  assert_line --index 0 "docker buildx rm --force $NAME"
  assert_line --index 1 "docker buildx create --name $NAME --driver kubernetes --driver-opt loadbalance=sticky --driver-opt namespace=ci --driver-opt replicas=2 --driver-opt requests.cpu=500m --driver-opt '\"nodeselector=kubernetes.io/arch=amd64,pool=build\"' --driver-opt '\"tolerations=key=build,operator=Exists,effect=NoSchedule\"' --bootstrap"
  assert_line --index 2 --regexp "^docker buildx build --progress plain --builder $NAME "
  assert_line --index 3 "docker buildx rm --force $NAME"
  run standin_created "$NAME"
  assert_output --partial '"nodeselector":"kubernetes.io/arch=amd64,pool=build"'
  run standin_rejected_calls
  assert_output ""
  assert_job_left_nothing
}

@test "a failed build still has its Deployment removed by pre-exit" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}" STANDIN_FAIL_BUILD=1
  job_run "$JOB"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "1 0"
  assert_output --partial "the build failed (exit 1)"
  assert_job_left_nothing
}

@test "a cancelled job: the build stops and pre-exit removes the Deployment" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}" STANDIN_SLOW_BUILD=60
  BUILDKITE_JOB_ID=$JOB PATH=$JOB_PATH agent_hook environment
  state=$(after_env BUILDKIT_PLUGIN_STATE_DIR)
  (BUILDKITE_JOB_ID=$JOB BUILDKIT_PLUGIN_STATE_DIR=$state PATH=$JOB_PATH agent_hook command >"$BATS_TEST_TMPDIR/command.out" 2>&1) &
  hook=$!
  for _ in $(seq 100); do [ -e "$STANDIN_DOCKER_STATE.building" ] && break; sleep 0.1; done
  assert [ -e "$STANDIN_DOCKER_STATE.building" ]
  # The agent signals the hook's shell (the wrapper); the subshell around it only waits.
  pkill -TERM -P "$hook"
  wait "$hook" || true
  run cat "$BATS_TEST_TMPDIR/command.out"
  assert_output --partial "the build was cancelled"
  run standin_builders
  assert_output "$NAME"
  run env BUILDKITE_JOB_ID="$JOB" BUILDKIT_PLUGIN_STATE_DIR="$state" PATH="$JOB_PATH" bash -c ". '$PLUGIN_DIR/hooks/pre-exit'"
  assert_success
  assert_output --partial "removing builder $NAME"
  assert_job_left_nothing
}

@test "kept by name: the first job creates it, the next reuses it, nobody removes it" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"oci-labels":false,"builder":{"driver":"kubernetes","name":"ci-k8s","keep":true}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0"
  standin_clear_log
  job_run "$JOB-2"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0"
  assert_output --partial "buildkit: reusing the kept builder ci-k8s"
  run standin_builder_calls
  refute_output --partial "buildx create"
  refute_output --partial "buildx rm"
  run standin_builders
  assert_output "ci-k8s"
}

@test "no kubeconfig and no service account: the step fails naming the cause, builds nothing" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}" STANDIN_K8S=no-credentials
  job_run "$JOB"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "1 0"
  assert_output --partial "creating the builder $NAME in Kubernetes failed (exit 1)"
  assert_output --partial "no Kubernetes credentials: the agent has neither a kubeconfig"
  run standin_builder_calls
  refute_output --partial "buildx build"
}

@test "RBAC forbids the Deployment: the step names the permissions it needs" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}" STANDIN_K8S=forbidden
  job_run "$JOB"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "1 0"
  assert_output --partial "RBAC forbids it: the service account needs deployments, pods and pods/exec in the namespace"
  assert_job_left_nothing
}

@test "pods that never become ready: the step says where to look; pre-exit removes the half-made builder" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$k8s}" STANDIN_K8S=never-ready
  job_run "$JOB"
  assert_equal "$JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "1 0"
  assert_output --partial "expected 2 replicas to be ready, got 0"
  assert_output --partial "the BuildKit pods never became ready: look at image pulls, resource requests and quotas"
  assert_job_left_nothing
}

@test "an option buildx's kubernetes driver does not have fails the environment hook, naming it, and nothing is created" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"builder":{"driver":"kubernetes","driver-opts":["memory=2g"]}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND" "1 skipped"
  assert_output --partial "builder.driver-opts[0]: memory is not an option of buildx's kubernetes driver"
  run standin_calls
  assert_output ""
}

@test "an option newer than this buildx (0.13.1) is refused before anything is created" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"builder":{"driver":"kubernetes","driver-opts":["timeout=5m"]}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND" "0 1"
  assert_output --partial "builder.driver-opts: timeout needs buildx >= 0.15.0; this agent has 0.13.1"
  run standin_builder_calls
  assert_output ""
}
