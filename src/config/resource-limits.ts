// Defaults of the per-connection and per-user resource limits (issue 9), in a module of their own so the
// schema can fill them into older documents without importing defaults.ts (which imports the schema).
/** OpenSSH's MaxSessions; a handle cap like sftp-server's; descriptors per user well under a node's budget. */
export const DEFAULT_RESOURCE_LIMITS = {
  sessionsPerConnection: 10,
  handlesPerConnection: 1024,
  descriptorsPerUser: 4096,
} as const
