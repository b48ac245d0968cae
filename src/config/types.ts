export type Progress = 'auto' | 'plain' | 'tty' | 'quiet' | 'rawjson';

/** A `K=V` pair; `fromEnv` when the user named only `K` and the value comes from the job. */
export interface KeyValue {
  key: string;
  value?: string;
  fromEnv?: boolean;
}

/** The validated, defaulted configuration, with every string-or-list option as a list. */
export interface Config {
  context: string;
  dockerfile?: string;
  target?: string;
  buildArgs: KeyValue[];
  labels: KeyValue[];
  network?: string;
  image?: string;
  tags: string[];
  push: boolean;
  noCache: boolean;
  progress: Progress;
  annotate: boolean;
  metaData: boolean;
  dryRun: boolean;
}
