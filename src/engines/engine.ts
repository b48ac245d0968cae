import { Config } from '../config/types';
import { BuildRequest } from '../plan/build-request';
import { Step } from '../plan/step';
import { BuildResult } from '../report/build-metadata';

type Env = Record<string, string | undefined>;

export type ImageStore = 'containerd' | 'classic';

/** What can be learnt about the agent by running something; each is probed only when needed. */
export interface Facts {
  /** The docker CLI is on PATH (unknown before the command hook). */
  dockerCli?: boolean;
  imageStore?: ImageStore;
  buildxVersion?: string;
  /** The Docker engine's own BuildKit. */
  buildkitVersion?: string;
}

export type Fact = 'imageStore' | 'buildxVersion' | 'buildkitVersion';

export interface EngineInput {
  config: Config;
  request: BuildRequest;
  env: Env;
}

/** One way of running BuildKit: what it needs to know, set up, run and tear down. */
export interface Engine {
  name: 'docker' | 'docker-container';
  /** The facts this engine reads for this build; nothing else is probed for it. */
  facts(input: EngineInput): Fact[];
  /** What it cannot do for this build on this agent: reasons, empty when it can. */
  limits(input: EngineInput, facts: Facts): string[];
  /** Setup steps, each with the clean-up it registers. */
  setup(input: EngineInput): Step[];
  /** The build (or bake) command. */
  build(input: EngineInput): Step;
  /** The BuildKit version that builds, as far as the facts tell. */
  buildkitVersion(facts: Facts): string | undefined;
  /** What the build's metadata file says: digest, refs and, for bake, each target's. */
  readResult(metadataFile: string, bakeTargets?: string[]): BuildResult;
  /** What the user can do about a failure whose cause is the agent, not the build. */
  hint(outputTail: string[]): string | undefined;
}
