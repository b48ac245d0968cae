import { credentialHelper } from './credential-helper';

// dist/credential-helper.js, run by bin/docker-credential-buildkit: `get` reads the server URL on stdin.
async function main(): Promise<number> {
  const action = process.argv[2];
  let input = '';
  if (action !== 'list') for await (const chunk of process.stdin) input += String(chunk);
  try {
    const { code, out } = await credentialHelper(action, input, process.env);
    process.stdout.write(`${out}\n`);
    return code;
  } catch (error) {
    // The protocol's error channel is stdout; Docker shows it with the failed pull or push.
    process.stdout.write(`docker-credential-buildkit: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main().then((code) => (process.exitCode = code));
