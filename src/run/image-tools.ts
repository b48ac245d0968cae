// The entry of dist/image-tools.js: hashing the inputs and the registry client, loaded by
// the command hook only for jobs with skip-unchanged or promote (as dist/ecr.js for ECR).
export { inputsKey } from './inputs-key';
export { findReusable, registryAccess, tagReused } from './reuse-image';
export { indexEntries, isAttestationEntry, lookUpManifest, putManifest } from '../registry/distribution';
