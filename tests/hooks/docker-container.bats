#!/usr/bin/env bats
# The per-job docker-container builder: its exact argv and its lifecycle over whole jobs
# (environment, command, pre-exit sourced as the agent sources them, on the real dist/
# bundles), against the strict `docker` stand-in in helpers/docker-standin, which parses argv
# as buildx 0.13.1 does and keeps the builders that exist: every lifecycle path, fast. A real
# docker-container builder (the image packed by scripts/buildkit-image.sh) builds in
# tests/e2e/cache.test.ts.
# Each @test runs in a process of its own, so its exports are meant to stay in it; step
# commands are single-quoted because the step's shell expands them, not this one.
# shellcheck disable=SC2030,SC2031,SC2016

bats_require_minimum_version 1.5.0

setup() {
  load helpers/agent
  load helpers/docker-standin
  load_libs
  builder_test_setup 0190f3c2-7a1b-4c4e-9b1e-3f5d2a6c8e
}

# Two platforms and no image store preference: on the classic store, auto needs the builder.
two_platforms='"image":"127.0.0.1:5000/app","tags":["1"],"platforms":["linux/amd64","linux/arm64"],"push":true,"oci-labels":false'

@test "the stand-in rejects what buildx 0.13 rejects, and keeps its builders" {
  run -125 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name x --driver docker-container --bogus
  assert_output --partial "unknown flag: --bogus"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name x --driver-opt memory
  assert_output 'ERROR: invalid value "memory", expecting k=v'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name x --driver-opt default-load=true
  assert_output --partial "invalid driver option default-load for docker-container driver"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name 9lives
  assert_output --partial "invalid name 9lives, name needs to start with a letter"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx inspect x
  assert_output 'ERROR: no builder "x" found'
  run -0 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name=x --driver=docker-container --buildkitd-flags --debug --bootstrap=true
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx create --name X --driver docker-container
  assert_output --partial 'ERROR: existing instance for "X" but no append mode'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx build --builder nope --metadata-file m.json .
  assert_output 'ERROR: no builder "nope" found'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx build --platform linux/amd64,linux/arm64 .
  assert_output --partial "Multi-platform build is not supported for the docker driver"
  run -0 "$BATS_TEST_TMPDIR/bin/docker" buildx build --builder x -t a/b:1 -ta/b:2 --metadata-file m.json .
  run -0 node -e 'const m = require(process.argv[1]); if (!/^sha256:[0-9a-f]{64}$/.test(m["containerimage.digest"]) || m["image.name"] !== "a/b:1,a/b:2") process.exit(1)' "$PWD/m.json"
  run -1 "$BATS_TEST_TMPDIR/bin/docker" buildx rm --force x nope
  assert_line "x removed"
  assert_line 'failed to remove nope: no builder "nope" found'
  run -1 "$BATS_TEST_TMPDIR/bin/docker" ps
  assert_output --partial "stand-in: unsupported call"
  run standin_builders
  assert_output ""
  run standin_rejected_calls
  assert_line "usage: docker buildx create --name x --driver docker-container --bogus"
  assert_line "unsupported: docker ps"
}

@test "classic store + two platforms: a per-job builder is created, built on, and removed by pre-exit" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms}"
  export BUILDKITE_COMMAND='echo "step saw digest $BUILDKIT_IMAGE_DIGEST"'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  assert_output --partial "buildkit: using a per-job docker-container builder ($NAME): the engine's classic image store cannot do a multi-platform build"
  assert_output --regexp "step saw digest sha256:[0-9a-f]{64}"
  assert_output --regexp "buildkite-agent not found; would report meta-data buildkit\.local\.digest=sha256:[0-9a-f]{64}"
  refute_output --partial "command not found"

  run standin_builder_calls
  assert_line --index 0 "docker buildx rm --force $NAME"
  assert_line --index 1 "docker buildx create --name $NAME --driver docker-container --bootstrap"
  assert_line --index 2 "docker buildx build --progress plain --builder $NAME --platform linux/amd64,linux/arm64 --tag 127.0.0.1:5000/app:1 --push --metadata-file $(job_state_dir "$JOB")/build-metadata.json ."
  assert_line --index 3 "docker buildx rm --force $NAME"
  assert_equal "${#lines[@]}" 4
  run standin_calls
  assert_line "docker info --format '{{json .DriverStatus}}'"
  run standin_rejected_calls
  assert_output ""

  assert_job_left_nothing
}

@test "driver docker-container: image, driver-opts and buildkitd-flags reach buildx create exactly" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"],"oci-labels":false,"builder":{"driver":"docker-container","image":"moby/buildkit:v0.13.2","driver-opts":["network=host","memory=2g"],"buildkitd-flags":"--debug"}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"

  run standin_builder_calls
  assert_line --index 1 "docker buildx create --name $NAME --driver docker-container --driver-opt image=moby/buildkit:v0.13.2 --driver-opt network=host --driver-opt memory=2g --buildkitd-flags --debug --bootstrap"
  assert_line --index 2 --regexp "^docker buildx build --progress plain --builder $NAME --tag 127.0.0.1:5000/app:1 "
  assert_line --index 3 "docker buildx rm --force $NAME"
  # buildx reads `--debug` as the value of --buildkitd-flags, not as a flag of its own.
  run standin_created "$NAME"
  assert_output '{"name":"'"$NAME"'","driver":"docker-container","driverOpts":{"image":"moby/buildkit:v0.13.2","network":"host","memory":"2g"},"flags":["--debug"],"platforms":[],"use":false}'
  run standin_rejected_calls
  assert_output ""
  run standin_builders
  assert_output ""
}

@test "a builder of the same name left by a crashed job is removed, then created afresh" {
  standin_add_builder "$NAME"
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms}"
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"

  run standin_builder_exits
  assert_line --index 0 "0 docker buildx rm --force $NAME"
  assert_line --index 1 "0 docker buildx create --name $NAME --driver docker-container --bootstrap"
  assert_line --index 2 --regexp "^0 docker buildx build --progress plain --builder $NAME "
  assert_line --index 3 "0 docker buildx rm --force $NAME"
  run standin_builders
  assert_output ""
}

@test "keep: true with a name: the first job creates the builder and keeps it, the next one reuses it" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"],"builder":{"driver":"docker-container","name":"shared","keep":true}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  run standin_builder_exits
  assert_line --index 0 "1 docker buildx inspect shared"
  assert_line --index 1 "0 docker buildx create --name shared --driver docker-container --bootstrap"
  assert_line --index 2 --regexp "^0 docker buildx build --progress plain --builder shared "
  assert_equal "${#lines[@]}" 3
  run standin_builders
  assert_output shared
  assert [ ! -e "$(job_state_dir "$JOB")" ]

  standin_clear_log
  job_run "$JOB-next"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  assert_output --partial "buildkit: reusing the kept builder shared"
  run standin_builder_exits
  assert_line --index 0 "0 docker buildx inspect shared"
  assert_line --index 1 --regexp "^0 docker buildx build --progress plain --builder shared "
  assert_equal "${#lines[@]}" 2
  run standin_builders
  assert_output shared
}

@test "keep: true: a kept builder another job creates between inspect and create is reused" {
  export STANDIN_RACE_INSPECT=1
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"],"builder":{"driver":"docker-container","name":"shared","keep":true}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  assert_output --partial 'existing instance for "shared"'
  run standin_builder_exits
  assert_line --index 0 "1 docker buildx inspect shared"
  assert_line --index 1 "1 docker buildx create --name shared --driver docker-container --bootstrap"
  assert_line --index 2 --regexp "^0 docker buildx build --progress plain --builder shared "
  assert_equal "${#lines[@]}" 3
  run standin_builders
  assert_output shared
}

@test "keep: true without a name is refused by the environment hook, before anything is created" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","builder":{"driver":"docker-container","keep":true}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND" "1 skipped"
  assert_output --partial "builder.keep"
  assert_output --partial "builder.name"
  run standin_builder_calls
  assert_output ""
  run standin_builders
  assert_output ""
}

@test "a failed build still has its builder removed by pre-exit" {
  export STANDIN_FAIL_BUILD=1
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms}"
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 1 0"
  assert_output --partial "buildkit: error: the build failed (exit 1)"
  run standin_builder_exits
  assert_line --index 1 "0 docker buildx create --name $NAME --driver docker-container --bootstrap"
  assert_line --index 2 --regexp "^1 docker buildx build --progress plain --builder $NAME "
  assert_line --index 3 "0 docker buildx rm --force $NAME"
  assert_job_left_nothing
}

@test "a builder that fails to bootstrap fails the step, builds nothing, and is removed by pre-exit" {
  export STANDIN_FAIL_CREATE=1
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms}"
  export BUILDKITE_COMMAND='touch "$BATS_TEST_TMPDIR/step-ran"'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 1 0"
  assert_output --partial 'ERROR: Error response from daemon: failed to resolve reference "docker.io/moby/buildkit:buildx-stable-1"'
  assert_output --partial "buildkit: error: creating the builder $NAME failed (exit 1)"
  assert [ ! -e "$BATS_TEST_TMPDIR/step-ran" ]
  run standin_builder_exits
  assert_line --index 0 "1 docker buildx rm --force $NAME"
  assert_line --index 1 "1 docker buildx create --name $NAME --driver docker-container --bootstrap"
  # buildx leaves a builder that failed to boot in its store: pre-exit must remove it.
  assert_line --index 2 "0 docker buildx rm --force $NAME"
  assert_equal "${#lines[@]}" 3
  assert_job_left_nothing
}

@test "driver docker on the classic store refuses two platforms, naming both fixes, and creates nothing" {
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms,\"builder\":{\"driver\":\"docker\"}}"
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 1 0"
  assert_output --partial "the Docker engine's classic image store cannot do a multi-platform build"
  assert_output --partial '(daemon.json: {"features":{"containerd-snapshotter":true}})'
  assert_output --partial "use a per-job builder (builder.driver: auto or docker-container)"
  refute_output --partial "    at "
  run standin_builder_calls
  assert_output ""
  run standin_calls
  assert_line "docker info --format '{{json .DriverStatus}}'"
  run standin_builders
  assert_output ""
}

@test "containerd store + two platforms: the engine's own builder, no per-job builder" {
  export STANDIN_DOCKER_STORE=containerd
  export BUILDKITE_PLUGIN_CONFIGURATION="{$two_platforms}"
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  refute_output --partial "per-job docker-container builder"
  run standin_builder_calls
  # The build names only the job's own tag; the public one is tagged and pushed from it.
  assert_line --index 0 "docker buildx build --progress plain --platform linux/amd64,linux/arm64 --tag 127.0.0.1:5000/app:buildkite-$JOB --push --metadata-file $(job_state_dir "$JOB")/build-metadata.json ."
  assert_equal "${#lines[@]}" 1
  run standin_calls
  assert_line "docker tag 127.0.0.1:5000/app:buildkite-$JOB 127.0.0.1:5000/app:1"
  assert_line "docker push 127.0.0.1:5000/app:1"
  assert_line "docker image rm 127.0.0.1:5000/app:buildkite-$JOB"
}

@test "bake on a docker-container builder passes --builder and removes the builder" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"bake":{"targets":["app"]},"oci-labels":false,"builder":{"driver":"docker-container"}}'
  job_run "$JOB"
  assert_equal "$JOB_STATUS_ENVIRONMENT $JOB_STATUS_COMMAND $JOB_STATUS_PRE_EXIT" "0 0 0"
  run standin_builder_calls
  assert_line --index 1 "docker buildx create --name $NAME --driver docker-container --bootstrap"
  assert_line --index 2 "docker buildx bake --progress plain --builder $NAME --metadata-file $(job_state_dir "$JOB")/build-metadata.json app"
  assert_line --index 3 "docker buildx rm --force $NAME"
  run standin_builders
  assert_output ""
}
