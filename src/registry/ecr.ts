// The entry of dist/ecr.js, the bundle with the AWS SDK: what the hooks load only when a job uses ECR.
export { EcrLoginError, ecrTokens } from './ecr-login';
export { EcrScanError, scanEcrImage } from './ecr-scan';
