import { goDuration } from './duration';

/**
 * buildx's kubernetes driver options, as its factory reads them, with the buildx release
 * that brought each one and a check of its value (what buildx would refuse at create).
 */
type Check = (value: string) => string | undefined;

const goBool: Check = (v) => (/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(v) ? undefined : 'expected true or false');
const integer: Check = (v) => (/^[1-9]\d*$/.test(v) ? undefined : 'expected a whole number of at least 1');
const quantity: Check = (v) => (/^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(v) ? undefined : 'expected a Kubernetes quantity such as 500m, 2, 4Gi');
const pairs: Check = (v) =>
  v.split(',').every((kv) => kv.split('=').length === 2 && !kv.startsWith('=')) ? undefined : 'expected key=value pairs separated by commas';
const duration: Check = (v) => (goDuration.test(v) ? undefined : 'expected a duration such as 120s or 5m');
const anything: Check = () => undefined;
const tolerationKeys = ['key', 'operator', 'value', 'effect', 'tolerationSeconds'];
const tolerations: Check = (v) => {
  for (const kv of v.split(';').flatMap((t) => t.split(','))) {
    const [key = '', value = '', ...rest] = kv.split('=');
    if (rest.length > 0 || !kv.includes('=') || !tolerationKeys.includes(key) || (key === 'tolerationSeconds' && !/^\d+$/.test(value))) {
      return 'expected key=..,operator=..,value=..,effect=..,tolerationSeconds=N for each toleration, tolerations separated by ;';
    }
  }
  return undefined;
};

export const kubernetesDriverOpts: Record<string, { since: string; check: Check }> = {
  image: { since: '0.5.0', check: anything },
  namespace: { since: '0.5.0', check: (v) => (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) ? undefined : 'expected a namespace name (lower case, digits, -)') },
  replicas: { since: '0.5.0', check: integer },
  'requests.cpu': { since: '0.5.0', check: quantity },
  'requests.memory': { since: '0.5.0', check: quantity },
  'limits.cpu': { since: '0.5.0', check: quantity },
  'limits.memory': { since: '0.5.0', check: quantity },
  rootless: { since: '0.5.0', check: goBool },
  serviceaccount: { since: '0.8.0', check: anything },
  nodeselector: { since: '0.5.0', check: pairs },
  annotations: { since: '0.10.0', check: pairs },
  labels: { since: '0.10.0', check: pairs },
  tolerations: { since: '0.8.0', check: tolerations },
  loadbalance: { since: '0.5.0', check: (v) => (v === 'sticky' || v === 'random' ? undefined : 'expected sticky or random') },
  'qemu.install': { since: '0.6.0', check: goBool },
  'qemu.image': { since: '0.6.0', check: anything },
  'requests.ephemeral-storage': { since: '0.14.0', check: quantity },
  'limits.ephemeral-storage': { since: '0.14.0', check: quantity },
  'default-load': { since: '0.14.0', check: goBool },
  schedulername: { since: '0.14.0', check: anything },
  timeout: { since: '0.15.0', check: duration },
};

/** Unknown keys and bad values, each naming the option; every buildx release's keys are known here. */
export function kubernetesDriverOptErrors(opts: string[], option: string): string[] {
  return opts.flatMap((opt, i) => {
    const eq = opt.indexOf('=');
    const key = eq === -1 ? opt : opt.slice(0, eq);
    const known = kubernetesDriverOpts[key];
    if (eq === -1) return [`${option}[${i}]: expected key=value; got ${JSON.stringify(opt)}`];
    if (!known)
      return [`${option}[${i}]: ${key} is not an option of buildx's kubernetes driver; expected one of: ${Object.keys(kubernetesDriverOpts).join(', ')}`];
    const problem = known.check(opt.slice(eq + 1));
    return problem ? [`${option}[${i}]: ${key}: ${problem}; got ${JSON.stringify(opt.slice(eq + 1))}`] : [];
  });
}
