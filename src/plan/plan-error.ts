/** A configuration that cannot be built on this agent: the message says what to change. */
export class PlanError extends Error {}
