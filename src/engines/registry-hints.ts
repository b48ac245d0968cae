/** How ECR refuses to overwrite a tag in a repository with immutable tags. */
export const immutableTagRefusal = /cannot be overwritten because the (repository|tag) is immutable|ImageTagAlreadyExistsException/i;

/** A hint for a push or pull the registry refused, on any engine. */
export function registryHint(outputTail: string[]): string | undefined {
  const text = outputTail.join('\n');
  if (immutableTagRefusal.test(text)) {
    return (
      'the ECR repository has immutable tags and this tag is already there: ECR never overwrites a tag in such a repository. ' +
      'Push a tag that is new for every build (the build number or the commit), or turn tag immutability off for the repository'
    );
  }
  if (/401 Unauthorized|no basic auth credentials|authorization failed|unauthorized: authentication required/i.test(text)) {
    return (
      'the registry refused the credentials (401): for ECR the plugin logs in by itself (check ecr: and the agent role ' +
      'policy: ecr:GetAuthorizationToken, and push rights on the repository); for other registries add login: [{ registry, username, password-env }]'
    );
  }
  return undefined;
}
