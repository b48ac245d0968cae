/** The likely cause of a kubernetes builder that could not be created or reached. */
export function kubernetesHint(outputTail: string[]): string | undefined {
  const text = outputTail.join('\n');
  if (/requires kubernetes API access|no configuration has been provided|unable to load in-cluster configuration|invalid configuration/i.test(text)) {
    return 'no Kubernetes credentials: the agent has neither a kubeconfig (KUBECONFIG or ~/.kube/config) nor the service account of a pod in the cluster';
  }
  if (/forbidden|cannot (create|get|list|delete|patch) resource/i.test(text)) {
    return 'RBAC forbids it: the service account needs deployments, pods and pods/exec in the namespace (examples/kubernetes/buildx-kubernetes-rbac.yaml)';
  }
  if (/replicas to be ready|timed out|deadline exceeded/i.test(text)) {
    return 'the BuildKit pods never became ready: look at image pulls, resource requests and quotas, node selectors and tolerations (kubectl describe pods in the namespace)';
  }
  return undefined;
}
