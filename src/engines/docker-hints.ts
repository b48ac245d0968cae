/** A hint for failures whose cause is the agent, not the build: what the user can do about it. */
export function dockerHint(outputTail: string[]): string | undefined {
  const text = outputTail.join('\n');
  if (/Cannot connect to the Docker daemon|error during connect|docker\.sock: connect: (no such file|permission denied)/i.test(text)) {
    return 'no Docker engine answered. Start Docker on the agent (or give the agent user access to its socket), ' + 'or point DOCKER_HOST at a running engine';
  }
  if (/'buildx' is not a docker command|unknown command "buildx"|docker: 'buildx'/i.test(text)) {
    return 'the docker CLI has no buildx plugin: install docker-buildx (Elastic CI Stack AMIs have it)';
  }
  return undefined;
}
