// Where the CLI keeps contexts and known host keys: CLUSTER_CONFIG_DIR, else the user's config dir.
import Conf from 'conf'

export function cliConfigDir(fallback: string): string {
  return process.env.CLUSTER_CONFIG_DIR || fallback
}

/** A JSON store (conf: atomic writes, mode 0600) named `name` in the CLI's config directory. */
export function openStore<T extends Record<string, unknown>>(dir: string, name: string, defaults: T): Conf<T> {
  return new Conf<T>({cwd: dir, configName: name, projectName: 'ftpcluster', defaults, configFileMode: 0o600})
}
