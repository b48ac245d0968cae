import { Config } from '../config/types';
import { BuildRequest } from '../plan/build-request';
import { Step } from '../plan/step';

type Env = Record<string, string | undefined>;

export type ImageStore = 'containerd' | 'classic';

/** The connection check of remote endpoints, in route order. */
export interface EndpointCheck {
  /** The first that answered; undefined when none did. */
  chosen?: string;
  failures: Array<{ endpoint: string; reason: string }>;
}

/** What can be learnt about the agent; each is looked up or probed only when needed. */
export interface Facts {
  /** Looked up on PATH, without running anything (unknown in the environment hook). */
  dockerCli?: boolean;
  buildxPlugin?: boolean;
  buildctl?: boolean;
  daemonless?: boolean;
  /** Probed by running something. */
  dockerReachable?: boolean;
  imageStore?: ImageStore;
  buildxVersion?: string;
  /** The Docker engine's own BuildKit. */
  buildkitVersion?: string;
  endpoints?: EndpointCheck;
  buildctlVersion?: string;
  daemonVersion?: string;
}

export type Fact = 'dockerReachable' | 'imageStore' | 'buildxVersion' | 'buildkitVersion' | 'endpoints' | 'buildctlVersions';

export interface EngineInput {
  config: Config;
  request: BuildRequest;
  env: Env;
}

export type EngineName = 'docker' | 'docker-container' | 'buildx-remote' | 'buildx-kubernetes' | 'buildctl-remote' | 'buildctl-daemonless';

/** One way of running BuildKit: what it needs to know, set up, run and tear down. */
export interface Engine {
  name: EngineName;
  /** The facts this engine reads for this build; nothing else is probed for it. */
  facts(input: EngineInput): Fact[];
  /** What it cannot do for this build on this agent, each naming the option: empty when it can. */
  limits(input: EngineInput, facts: Facts): string[];
  /** Setup steps, each with the clean-up it registers. */
  setup(input: EngineInput, facts: Facts): Step[];
  /** The build (or bake) command. */
  build(input: EngineInput, facts: Facts): Step;
  /** Steps after a successful build (loading the image into Docker). */
  after(input: EngineInput): Step[];
  /** Variables the step command gets (BUILDKIT_HOST of a remote builder). */
  exports(input: EngineInput, facts: Facts): Record<string, string>;
  /** The builder that built, for the report; undefined for the Docker engine's own. */
  builtOn(input: EngineInput, facts: Facts): string | undefined;
  /** The BuildKit version that builds, as far as the facts tell. */
  buildkitVersion(facts: Facts): string | undefined;
  /** What the user can do about a failure whose cause is the agent, not the build. */
  hint(outputTail: string[]): string | undefined;
}
