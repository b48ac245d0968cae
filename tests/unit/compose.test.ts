import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { defined } from '../support/defined';

// docker-compose.yml is for laptops (docker compose is not on the test machines, and its
// images cannot be pulled there): this keeps it parseable and pointing at the right things.
const root = join(__dirname, '..', '..');

interface Service {
  image?: string;
  command?: string[] | string;
  volumes?: string[];
  working_dir?: string;
  privileged?: boolean;
  ports?: string[];
}

function compose(): { services: Record<string, Service>; volumes?: Record<string, unknown> } {
  const doc = YAML.parseDocument(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));
  expect(doc.errors).toEqual([]);
  return doc.toJS();
}

const words = (command: Service['command']): string[] => (Array.isArray(command) ? command : (command ?? '').split(/\s+/).filter(Boolean));

describe('docker-compose.yml', () => {
  const { services, volumes } = compose();

  test('lint runs the Buildkite plugin linter with --id buildkit on a read-only checkout', () => {
    const lint = defined(services.lint, 'a lint service');
    expect(lint.image).toMatch(/^buildkite\/plugin-linter(:|$)/);
    const command = words(lint.command);
    expect(command[command.indexOf('--id') + 1]).toBe('buildkit');
    expect(command).toContain('--id');
    expect(lint.volumes).toContain('.:/plugin:ro');
  });

  test('tests runs scripts/test.sh in the checkout, privileged (it starts its own dockerd)', () => {
    const tests = defined(services.tests, 'a tests service');
    expect(words(tests.command)).toEqual(['bash', 'scripts/test.sh']);
    expect(tests.working_dir).toBe('/plugin');
    expect(tests.volumes).toContain('.:/plugin');
    expect(tests.privileged).toBe(true);
    // The image's Node.js satisfies package.json's engines (the hooks and jest need it).
    const minimum = Number(/>=\s*(\d+)/.exec(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node)?.[1]);
    const major = Number(/^node:(\d+)/.exec(tests.image ?? '')?.[1]);
    expect(major).toBeGreaterThanOrEqual(minimum);
  });

  test('named volumes are declared; the registry is reachable on loopback only', () => {
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] ?? '';
        if (volume.includes(':') && !/^[./~]/.test(source)) expect(Object.keys(volumes ?? {})).toContain(source);
      }
    }
    const registry = defined(services.registry, 'a registry service');
    expect(registry.image).toMatch(/^registry:2/);
    expect(registry.ports).toEqual(['127.0.0.1:5000:5000']);
  });
});
