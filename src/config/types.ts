import { EcrSettings, RegistryLogin } from './registry-auth';
import { ScanConfig } from './scan';
import { CacheConfig } from './cache';
import { SkipUnchangedConfig } from './skip-unchanged';
import { TagRule } from './job-rules';
import { PromoteConfig } from './promote';
import { MergeConfig } from './merge';
import { ExporterSpec, Field } from './exporter';

export type Progress = 'auto' | 'plain' | 'tty' | 'quiet' | 'rawjson';

/** A `K=V` pair; `fromEnv` when the user named only `K` and the value comes from the job. */
export interface KeyValue {
  key: string;
  value?: string;
  fromEnv?: boolean;
}

export type BuilderDriver = 'auto' | 'docker' | 'docker-container' | 'remote' | 'daemonless' | 'kubernetes';

/** A file path (absolute, or relative to the checkout) or `env:NAME`, a variable holding PEM. */
export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** A builder for some platforms: a remote endpoint, or (kubernetes) a Deployment with its own options. */
export interface BuilderNode {
  endpoint?: string;
  platforms: string[];
  tls?: TlsConfig;
  driverOpts: string[];
}

export interface BuilderConfig {
  driver: BuilderDriver;
  endpoints: string[];
  routeKey?: string;
  client: 'auto' | 'buildctl' | 'buildx';
  tls?: TlsConfig;
  nodes: BuilderNode[];
  name?: string;
  image?: string;
  driverOpts: string[];
  buildkitdFlags?: string;
  keep: boolean;
}

export interface BakeConfig {
  files: string[];
  targets: string[];
  set: string[];
}

/** `false`, or on with its attributes (`true` is on with none); undefined leaves buildx's default. */
export type Attestation = { enabled: false } | { enabled: true; attrs: Field[] } | undefined;

/** A build secret and where its value comes from: a job variable, a file, or a Buildkite secret. */
export type SecretSource = { id: string; env: string } | { id: string; file: string } | { id: string; buildkiteSecret: string };

/** An SSH agent socket or key for RUN --mount=type=ssh: `default` or `id=paths`. */
export interface SshEntry {
  id: string;
  /** Sockets or keys; none means the agent's SSH_AUTH_SOCK. */
  paths: string[];
}

/** The validated, defaulted configuration, with every string-or-list option as a list. */
export interface Config {
  context: string;
  dockerfile?: string;
  target?: string;
  buildArgs: KeyValue[];
  secrets: SecretSource[];
  ssh: SshEntry[];
  ecr: EcrSettings;
  login: RegistryLogin[];
  scan?: ScanConfig;
  labels: KeyValue[];
  network?: string;
  /** `image` and `tags` resolved once into full references. */
  refs: string[];
  push: boolean;
  /** Tags from the Buildkite environment, added to `refs` when the configuration is loaded. */
  tagRules: TagRule[];
  promote?: PromoteConfig;
  /** push-by-digest: the repository pushed by digest, with no tag (a merge step tags it). */
  pushByDigest?: string;
  merge?: MergeConfig;
  /** Branch globs that push; elsewhere the build does not. Empty: every branch. */
  pushBranches: string[];
  noCache: boolean;
  cache?: CacheConfig;
  cacheFrom: ExporterSpec[];
  cacheTo: ExporterSpec[];
  skipUnchanged?: SkipUnchangedConfig;
  progress: Progress;
  annotate: boolean;
  /** Upload local, tar and oci outputs as Buildkite artifacts. */
  artifacts: boolean;
  metaData: boolean;
  dryRun: boolean;
  platforms: string[];
  outputs: ExporterSpec[];
  load: boolean;
  pull: boolean;
  buildContexts: KeyValue[];
  annotations: KeyValue[];
  shmSize?: string;
  addHosts: string[];
  ulimits: string[];
  provenance: Attestation;
  sbom: Attestation;
  ociLabels: boolean;
  /** SOURCE_DATE_EPOCH from the commit time, layer timestamps rewritten, the commit time as the created label. */
  reproducible: boolean;
  retries: number;
  /** The build command is stopped after this long (each attempt). */
  timeoutSeconds?: number;
  builder: BuilderConfig;
  bake?: BakeConfig;
}
