// A node's data directory: node.json (node-local settings), host_key, cluster_key, config/, files/.
import {createHash, randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import {isIP} from 'node:net'
import path from 'node:path'
import {DEFAULT_HEALTH_PORT, OperationError, fingerprintOf} from '../protocol/index.js'
import {writeFileAtomic} from './atomic-file.js'
import {defaultConfig} from './defaults.js'
import {hashPassword} from './password.js'
import {selfSignedCertificate} from './self-signed-cert.js'
import {checkStorageSeparate} from './storage-overlap.js'
import {ConfigFileError, ConfigStore, configPaths} from './store.js'

/** Node-local settings; never synchronised. */
export interface NodeSettings {
  /** Random id of this node. */
  nodeId: string
  /** Address every listener binds to (tests use 127.0.0.2, 127.0.0.3, …). */
  bind: string
  /** Root of user files: a local directory or a shared mount all nodes point at. */
  storage: string
  /** Port of the HTTP health endpoint. */
  healthPort: number
  /** Address advertised in FTP PASV replies (defaults to `bind`): the node's address as clients see it. */
  externalAddress: string | null
  /** This node's passive FTP port range (overrides the cluster's `sites.files.ftp.pasvPortMin/Max`): behind a
   *  load balancer each node's firewall may open a different range. */
  pasvPorts: {min: number; max: number} | null
  /** Where this node keeps its pieces of the striped cluster, or null for the default `<storage>/.stripe`. */
  stripeDir: string | null
  /** File-service worker processes: null means one per core, 0 runs the sessions in the supervisor itself. */
  workers: number | null
}

export function nodePaths(dataDir: string) {
  return {
    nodeJson: path.join(dataDir, 'node.json'),
    hostKey: path.join(dataDir, 'host_key'),
    clusterKey: path.join(dataDir, 'cluster_key'),
    files: path.join(dataDir, 'files'),
    ...configPaths(dataDir),
  }
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

/** SHA256 fingerprint of an OpenSSH public key line or a private key file's public half. */
export async function keyFingerprint(privateKeyText: string): Promise<{fingerprint: string; publicKey: string}> {
  const {utils} = (await import('ssh2')).default
  const parsed = utils.parseKey(privateKeyText)
  if (parsed instanceof Error) throw parsed
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  const blob = key.getPublicSSH()
  return {fingerprint: fingerprintOf(blob, sha256), publicKey: `${key.type} ${blob.toString('base64')}`}
}

export async function generateSshKey(comment: string): Promise<{privateKey: string; publicKey: string}> {
  const {utils} = (await import('ssh2')).default
  // ssh2 1.17 cannot parse about 1 in 300 of the ed25519 keys it generates ("Malformed OpenSSH private
  // key"): keep only a key that parses back, or the node would fail at start.
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', {comment})
    if (!(utils.parseKey(pair.private) instanceof Error)) return {privateKey: pair.private, publicKey: pair.public.trim()}
  }
  throw new Error('could not generate a usable ed25519 key')
}

export interface InitOptions {
  bind: string
  adminUser: string
  adminPassword: string | null
  adminPublicKeys?: string[]
  storage?: string
  adminPort?: number
  sftpPort?: number
  ftpPort?: number
  ftpsPort?: number
  healthPort?: number
  externalAddress?: string
  pasvPorts?: {min: number; max: number}
  stripeDir?: string
  workers?: number
}

export interface InitResult {
  dataDir: string
  nodeId: string
  fingerprint: string
  clusterId: string
  settings: NodeSettings
}

/** What `node init --if-missing` reports for a directory initialised before: read, never changed. */
export async function existingNodeDir(dataDir: string): Promise<InitResult | undefined> {
  const dir = path.resolve(dataDir)
  const p = nodePaths(dir)
  try {
    await fs.access(p.nodeJson)
  } catch {
    return undefined
  }
  const settings = await readNodeSettings(dir)
  const {fingerprint} = await keyFingerprint(await fs.readFile(p.hostKey, 'utf8'))
  let clusterId = ''
  try {
    clusterId = (JSON.parse(await fs.readFile(path.join(dir, 'config', 'current.json'), 'utf8')) as {clusterId?: string}).clusterId ?? ''
  } catch {
    // A node whose configuration is unreadable still has an identity; `node start` reports the file.
  }
  return {dataDir: dir, nodeId: settings.nodeId, fingerprint, clusterId, settings}
}

export async function initNodeDir(dataDir: string, opts: InitOptions): Promise<InitResult> {
  const dir = path.resolve(dataDir)
  const p = nodePaths(dir)
  if (isIP(opts.bind) === 0) throw new OperationError('invalid', `--bind "${opts.bind}" is not an IP address`, 'give an address of this machine, e.g. --bind 127.0.0.2')
  try {
    await fs.access(p.nodeJson)
    throw new OperationError('refused', `${dir} is already initialised (node.json exists)`, 'start it with `cluster node start ' + dataDir + '`, or choose an empty directory')
  } catch (error) {
    if (error instanceof OperationError) throw error
  }
  await fs.mkdir(dir, {recursive: true, mode: 0o700})
  const nodeId = randomBytes(6).toString('hex')
  const storage = path.resolve(opts.storage ?? p.files)
  await fs.mkdir(storage, {recursive: true, mode: 0o755})
  await checkStorageSeparate(dir, storage)
  const hostKey = await generateSshKey(`ftpcluster admin ${nodeId}`)
  const clusterKey = await generateSshKey(`ftpcluster cluster ${nodeId}`)
  const serviceKey = await generateSshKey('ftpcluster files')
  const tls = selfSignedCertificate('ftpcluster')
  await writeFileAtomic(p.hostKey, hostKey.privateKey, 0o600)
  await writeFileAtomic(p.clusterKey, clusterKey.privateKey, 0o600)
  const settings: NodeSettings = {
    nodeId,
    bind: opts.bind,
    storage,
    healthPort: opts.healthPort ?? DEFAULT_HEALTH_PORT,
    externalAddress: opts.externalAddress ?? null,
    pasvPorts: opts.pasvPorts ?? null,
    stripeDir: opts.stripeDir ? path.resolve(opts.stripeDir) : null,
    workers: opts.workers ?? null,
  }
  const config = defaultConfig({
    adminUser: opts.adminUser,
    adminPasswordHash: opts.adminPassword === null ? null : await hashPassword(opts.adminPassword),
    adminPublicKeys: opts.adminPublicKeys,
    adminPort: opts.adminPort,
    sftpPort: opts.sftpPort,
    ftpPort: opts.ftpPort,
    ftpsPort: opts.ftpsPort,
    sftpHostKey: serviceKey.privateKey,
    tlsCert: tls.cert,
    tlsKey: tls.key,
    by: opts.adminUser,
  })
  const store = await ConfigStore.create(dir, config, {by: opts.adminUser, from: 'local', summary: 'node init'})
  // node.json last: its presence marks a complete initialisation.
  await writeFileAtomic(p.nodeJson, JSON.stringify(settings, null, 2) + '\n', 0o600)
  const {fingerprint} = await keyFingerprint(hostKey.privateKey)
  return {dataDir: dir, nodeId, fingerprint, clusterId: store.current.clusterId, settings}
}

/** Reads node.json; a clear error when DIR is missing, not initialised or node.json is corrupt. */
export async function readNodeSettings(dataDir: string): Promise<NodeSettings> {
  const dir = path.resolve(dataDir)
  const p = nodePaths(dir)
  const stat = await fs.stat(dir).catch(() => null)
  if (!stat) throw new OperationError('invalid', `data directory ${dir} does not exist`, `create it with \`cluster node init ${dataDir}\``)
  if (!stat.isDirectory()) throw new OperationError('invalid', `${dir} is not a directory`, 'give the node\'s data directory')
  let text: string
  try {
    text = await fs.readFile(p.nodeJson, 'utf8')
  } catch {
    throw new OperationError('invalid', `${dir} is not an initialised node (no node.json)`, `initialise it with \`cluster node init ${dataDir}\``)
  }
  let o: Record<string, unknown>
  try {
    o = JSON.parse(text) as Record<string, unknown>
  } catch (error) {
    throw new ConfigFileError(p.nodeJson, `is not valid JSON (${(error as Error).message})`)
  }
  const bad = (field: string, what: string) => new ConfigFileError(p.nodeJson, `invalid field ${field}: ${what}`)
  if (typeof o.nodeId !== 'string' || o.nodeId === '') throw bad('nodeId', 'expected a non-empty string')
  if (typeof o.bind !== 'string' || isIP(o.bind) === 0) throw bad('bind', 'expected an IP address')
  if (typeof o.storage !== 'string' || !path.isAbsolute(o.storage)) throw bad('storage', 'expected an absolute path')
  if (typeof o.healthPort !== 'number' || !Number.isInteger(o.healthPort) || o.healthPort < 1 || o.healthPort > 65535) throw bad('healthPort', 'expected a port 1-65535')
  if (o.externalAddress != null && (typeof o.externalAddress !== 'string' || isIP(o.externalAddress) === 0)) throw bad('externalAddress', 'expected an IP address or null')
  const pasv = o.pasvPorts as {min?: unknown; max?: unknown} | null | undefined
  const isPort = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1024 && v <= 65535
  if (pasv != null && (typeof pasv !== 'object' || !isPort(pasv.min) || !isPort(pasv.max) || (pasv.max as number) < (pasv.min as number))) {
    throw bad('pasvPorts', 'expected {"min": 1024-65535, "max": ≥ min} or null')
  }
  // node.json written before the striped cluster has no stripeDir: the default applies
  if (o.stripeDir != null && (typeof o.stripeDir !== 'string' || !path.isAbsolute(o.stripeDir))) throw bad('stripeDir', 'expected an absolute path or null')
  if (o.workers != null && (typeof o.workers !== 'number' || !Number.isInteger(o.workers) || o.workers < 0 || o.workers > 256)) {
    throw bad('workers', 'expected 0-256 (0: sessions in the supervisor) or null (one per core)')
  }
  return {
    nodeId: o.nodeId,
    bind: o.bind,
    storage: o.storage,
    healthPort: o.healthPort,
    externalAddress: (o.externalAddress as string | null | undefined) ?? null,
    pasvPorts: pasv ? {min: pasv.min as number, max: pasv.max as number} : null,
    stripeDir: (o.stripeDir as string | null | undefined) ?? null,
    workers: (o.workers as number | null | undefined) ?? null,
  }
}
