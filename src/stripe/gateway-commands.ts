// The gateway's own verbs on top of the FTP engine's table: the data verbs (RETR, STOR, APPE) go to the
// storage nodes — active mode and PRET direct between node and client, PASV/EPSV relayed by the gateway —
// plus PORT/EPRT (vetted like every listener, then handed to a node), PRET, HASH/XSHA256 and FEAT. Every
// other verb is the engine's, running on the catalogue-backed GatewaySession.
import type {Socket} from 'node:net'
import {COMMANDS, type Command, type CommandSet} from '../daemon/ftp/command-table.js'
import {DATA_COMMANDS, vetActiveAddress} from '../daemon/ftp/data-commands.js'
import {formatEpsv, formatPasv, parseEprt, parsePort, type HostPort} from '../daemon/ftp/data-address.js'
import type {FtpConnection} from '../daemon/ftp/ftp-connection.js'
import {FEATURES} from '../daemon/ftp/info-commands.js'
import {fileErrorReply} from '../daemon/ftp/reply-codes.js'
import {TransferAborted} from '../daemon/ftp/transfer.js'
import {FileError} from '../daemon/session/types.js'
import {acceptOne, newToken, relay} from './data-path.js'
import {dropStale, finishChain, startChain, type Gateway, type Replica, type Stored} from './chain.js'
import type {GatewaySession} from './gateway-session.js'
import type {DataEndpoint} from './link-protocol.js'
import type {NodeLink} from './node-links.js'

interface StripeState {
  /** PORT/EPRT target: the node connects there. */
  active: HostPort | null
  /** PRET's announced transfer, then the node port it opened. */
  pret: {verb: string; path: string} | null
  direct: {nodeId: string; handle: number; path: string; verb: string} | null
}

const states = new WeakMap<FtpConnection, StripeState>()
function state(c: FtpConnection): StripeState {
  let s = states.get(c)
  if (!s) {
    s = {active: null, pret: null, direct: null}
    states.set(c, s)
  }
  return s
}

function resetData(c: FtpConnection): void {
  const s = state(c)
  s.active = null
  s.pret = null
  s.direct = null
  c.data.reset()
}

const session = (c: FtpConnection) => c.session as GatewaySession

function nodeNames(gw: Gateway, ids: string[]): string {
  return ids.map((id) => gw.links.get(id)?.name ?? id).join(', ')
}

/** Refuses clear data when FTPS is required (the engine's rule), before any node is asked. */
function tlsRefused(c: FtpConnection): boolean {
  if (c.requireTls && !(c.control.secure && c.protP)) {
    resetData(c)
    c.reply(522, 'Data connections must be encrypted (AUTH TLS, PBSZ 0, PROT P)')
    return true
  }
  return false
}

type Mode = {kind: 'active'; target: HostPort} | {kind: 'direct'; nodeId: string; handle: number} | {kind: 'relay'}

/** Which data path this transfer takes; consumes the PORT/PRET setting. */
function takeMode(c: FtpConnection, verb: string, path: string): Mode | null {
  const s = state(c)
  const active = s.active
  const direct = s.direct
  s.active = null
  s.pret = null
  s.direct = null
  if (active) {
    c.data.reset()
    return {kind: 'active', target: active}
  }
  if (direct && direct.verb === verb && direct.path === path) return {kind: 'direct', nodeId: direct.nodeId, handle: direct.handle}
  if (c.data.configured) return {kind: 'relay'}
  return null
}

async function retr(gw: Gateway, c: FtpConnection, arg: string): Promise<void> {
  const target = c.resolve(arg)
  const offset = c.takeRest()
  if (target === null) return resetData(c)
  const ses = session(c)
  if (!ses.can('download')) {
    resetData(c)
    return c.reply(550, 'Permission denied')
  }
  const e = ses.entry(target)
  if (!e || e.type !== 'file') {
    resetData(c)
    return c.reply(550, e ? 'Is a directory' : 'No such file or directory')
  }
  if (offset > e.size) {
    resetData(c)
    return c.reply(554, 'REST offset is beyond the end of the file')
  }
  const live = ses.liveNodes(e)
  if (live.length === 0) {
    resetData(c)
    return c.reply(450, `${target} is on storage node ${nodeNames(gw, e.nodes)}, which is down; try again later`)
  }
  if (tlsRefused(c)) return
  const mode = takeMode(c, 'RETR', target)
  if (!mode) return c.reply(425, 'Use PORT, EPRT, PASV or EPSV first')
  const cpath = ses.cat(target)
  const encrypted = c.control.secure && c.protP
  const opening = `Opening BINARY mode data connection for ${target} (${e.size} bytes)`
  if (mode.kind === 'relay') {
    await c.withData(opening, async (client) => relayRetr(gw, c, live, cpath, offset, client))
    return
  }
  // active or PRET: the node moves the bytes; a node that cannot connect is skipped for the next replica
  const candidates = mode.kind === 'direct' ? [mode.nodeId] : live
  let cancel = () => {}
  await c.runTransfer(() => cancel(), async (t) => {
    let opened = false
    let lastError: Error | null = null
    for (const id of candidates) {
      const link = gw.links.get(id)
      if (!link?.up) continue
      const endpoint: DataEndpoint = mode.kind === 'active' ? {connect: mode.target} : {accepted: mode.handle}
      const call = link.send({path: cpath, offset, endpoint, tls: encrypted}, (ev) => {
        if ('opened' in ev && !opened) {
          opened = true
          c.reply(150, opening)
        }
      })
      cancel = () => link.cancel(call.id)
      try {
        await call.result
        return c.reply(226, 'Transfer complete')
      } catch (error) {
        if (opened || t.aborted) return c.reply(426, 'Connection closed; transfer aborted')
        lastError = error as Error
        gw.log.info('stripe retr: node failed before the data connection, trying the next replica', {path: cpath, node: link.name, error: lastError.message})
      }
    }
    c.reply(425, `Cannot open data connection: ${lastError?.message ?? 'no storage node holding the file is up'}`)
  })
}

/** Passive relay of a download: the node connects to a one-time relay socket of the gateway. */
async function relayRetr(gw: Gateway, c: FtpConnection, live: string[], cpath: string, offset: number, client: Socket): Promise<void> {
  let lastError: Error | null = null
  for (const id of live) {
    const link = gw.links.get(id)
    if (!link?.up) continue
    const token = newToken()
    const pending = await acceptOne(gw.bind, link.node.host, token, gw.dataTimeoutMs)
    const call = link.send({path: cpath, offset, endpoint: {connect: {host: gw.bind, port: pending.port, token}}, tls: false})
    call.result.catch(() => pending.cancel())
    let nodeSocket: Socket
    try {
      nodeSocket = await pending.socket
    } catch {
      lastError = await call.result.then(() => new Error('the node did not connect'), (e: Error) => e)
      continue
    }
    const onClientGone = () => nodeSocket.destroy()
    client.once('close', onClientGone)
    try {
      await relay(nodeSocket, client)
      await call.result
      return
    } catch (error) {
      link.cancel(call.id)
      nodeSocket.destroy()
      throw error instanceof TransferAborted ? error : new TransferAborted((error as Error).message)
    } finally {
      client.off('close', onClientGone)
    }
  }
  throw new FileError('io', lastError?.message ?? 'no storage node holding the file is up')
}

async function store(gw: Gateway, c: FtpConnection, arg: string, append: boolean): Promise<void> {
  const target = c.resolve(arg)
  let offset = c.takeRest()
  if (target === null) return resetData(c)
  const ses = session(c)
  const existing = ses.entry(target)
  const refuse = (code: number, text: string) => {
    resetData(c)
    c.reply(code, text)
  }
  if (existing?.type === 'dir') return refuse(550, 'Is a directory')
  if (!ses.can('upload') || (existing && (offset > 0 || !append) && !ses.can('overwrite')) || (existing && append && !ses.can('upload'))) return refuse(550, 'Permission denied')
  const parent = ses.entry(target === '/' ? '/' : target.slice(0, target.lastIndexOf('/')) || '/')
  if (!parent || parent.type !== 'dir') return refuse(550, 'No such file or directory')
  if (append) offset = existing?.size ?? 0
  if (offset > 0 && (!existing || offset > existing.size)) return refuse(554, 'REST offset is beyond the end of the file')
  const cpath = ses.cat(target)
  if (gw.busy.has(cpath)) return refuse(450, 'File busy, try again later')
  // a resumed or appended upload continues the same pieces: every node holding the file must be up
  let keepNodes: string[] | null = null
  if (offset > 0) {
    const down = existing!.nodes.filter((n) => !gw.links.get(n)?.up)
    if (down.length > 0) return refuse(450, `${target} is on storage node ${nodeNames(gw, down)}, which is down; try again later`)
    keepNodes = existing!.nodes
  }
  if (tlsRefused(c)) return
  const mode = takeMode(c, append ? 'APPE' : 'STOR', target)
  if (!mode) return c.reply(425, 'Use PORT, EPRT, PASV or EPSV first')
  // PRET chose the node before it began draining: a new file must not land on a node being emptied
  if (mode.kind === 'direct' && !keepNodes && !gw.takesNewFiles(mode.nodeId)) return refuse(425, `Storage node ${nodeNames(gw, [mode.nodeId])} is being removed from the stripe; send PRET and PASV again`)
  const encrypted = c.control.secure && c.protP
  gw.busy.add(cpath)
  try {
    const generation = gw.catalogue.nextGeneration()
    const args = {path: cpath, offset, owner: ses.user.name, generation, tls: encrypted}
    const plan = (exclude: Set<string>): NodeLink[] => {
      if (mode.kind === 'direct') return [mode.nodeId, ...gw.choose(0, new Set([...exclude, mode.nodeId])).slice(0, gw.replicas() - 1)].map((id) => gw.links.get(id)!)
      return (keepNodes ?? gw.choose(0, exclude)).map((id) => gw.links.get(id)!).filter(Boolean)
    }
    const record = async (pieces: Stored[]) => {
      const p = pieces[0].piece
      const entry = gw.catalogue.putFile({path: cpath, size: p.size, mtimeMs: p.mtimeMs, owner: existing?.owner ?? ses.user.name, sha256: p.sha256, nodes: pieces.map((x) => x.nodeId)})
      for (const id of entry.nodes) gw.stored(id, p.size - (existing?.nodes.includes(id) ? existing.size : 0))
      await dropStale(gw, existing, entry)
    }
    if (mode.kind === 'relay') {
      await c.withData(`Ok to send data to ${target}`, async (client) => {
        const nodes = plan(new Set())
        if (nodes.length === 0) throw new FileError('no-space', 'no storage node can take the file')
        const token = newToken()
        const pending = await acceptOne(gw.bind, nodes[0].node.host, token, gw.dataTimeoutMs)
        let replicas: Replica[]
        try {
          replicas = await startChain(nodes, args, {connect: {host: gw.bind, port: pending.port, token}}, () => {})
        } catch (error) {
          pending.cancel()
          throw new FileError('io', (error as Error).message)
        }
        const cancelAll = () => replicas.forEach((r) => r.link.cancel(r.id))
        let nodeSocket: Socket
        try {
          nodeSocket = await pending.socket
        } catch (error) {
          cancelAll()
          throw new FileError('io', (error as Error).message)
        }
        try {
          await relay(client, nodeSocket)
          nodeSocket.end()
        } catch (error) {
          nodeSocket.destroy()
          cancelAll()
          throw error
        }
        const {pieces, failed} = await finishChain(() => !c.control.closed, replicas)
        if (pieces.length > 0) await record(pieces)
        if (failed.length > 0) throw new FileError('io', `only ${pieces.length} of ${replicas.length} copies are durable (${failed.join('; ')})`)
      })
      return
    }
    let cancel = () => {}
    await c.runTransfer(() => cancel(), async (t) => {
      const tried = new Set<string>()
      let lastError: Error | null = null
      for (let attempt = 0; attempt < 4; attempt++) {
        const nodes = plan(tried)
        if (nodes.length === 0) return c.reply(452, 'Insufficient storage space: no storage node can take the file')
        let opened = false
        const endpoint: DataEndpoint = mode.kind === 'active' ? {connect: mode.target} : {accepted: mode.handle}
        let replicas: Replica[]
        try {
          replicas = await startChain(nodes, args, endpoint, () => {
            if (!opened) c.reply(150, `Ok to send data to ${target}`)
            opened = true
          })
        } catch (error) {
          nodes.forEach((n) => tried.add(n.node.nodeId))
          gw.log.info('stripe stor: chain setup failed, trying other nodes', {path: cpath, error: (error as Error).message})
          if (keepNodes || mode.kind === 'direct') return c.reply(451, `Cannot store ${target}: ${(error as Error).message}`)
          continue
        }
        cancel = () => replicas.forEach((r) => r.link.cancel(r.id))
        try {
          const {pieces, failed} = await finishChain(() => !c.control.closed, replicas)
          if (pieces.length > 0) await record(pieces)
          if (failed.length > 0) return c.reply(451, `Only ${pieces.length} of ${replicas.length} copies of ${target} are durable (${failed.join("; ")}); upload it again`)
          return c.reply(226, 'Transfer complete')
        } catch (error) {
          if (!opened && !t.aborted && !keepNodes && mode.kind === 'active') {
            tried.add(nodes[0].node.nodeId) // the first node could not reach the client: the next one may
            lastError = error as Error
            continue
          }
          if (t.aborted || error instanceof TransferAborted) return c.reply(426, 'Connection closed; transfer aborted')
          if (error instanceof FileError && error.kind === 'no-space') {
            const r = fileErrorReply(error) // the reply every FTP verb gives for a full disk
            return c.reply(r.code, `${r.text}: ${target} was not stored`)
          }
          return c.reply(451, `Cannot store ${target}: ${(error as Error).message}`)
        }
      }
      c.reply(425, `Cannot open data connection${lastError ? `: ${lastError.message}` : ''}`)
    })
  } finally {
    gw.busy.delete(cpath)
  }
}

function port(c: FtpConnection, target: HostPort | null, verb: string): void {
  if (!vetActiveAddress(c, target, verb)) return
  resetData(c)
  state(c).active = target
  c.data.setActive(target) // listings are sent by the gateway itself, to the same vetted address
  c.reply(200, `${verb} command successful. Consider using PASV.`)
}

/** PASV/EPSV after PRET: the chosen node opens a port of its PASV range, and data goes direct. */
async function passive(gw: Gateway, c: FtpConnection, arg: string, verb: 'PASV' | 'EPSV'): Promise<void> {
  const s = state(c)
  const pret = s.pret
  s.active = null
  s.direct = null
  s.pret = null
  if (!pret) return DATA_COMMANDS[verb].run(c, arg)
  c.data.reset()
  const ses = session(c)
  let nodeId: string | undefined
  if (pret.verb === 'RETR') {
    const e = ses.entry(pret.path)
    if (!e || e.type !== 'file') return c.reply(550, 'No such file or directory')
    nodeId = ses.liveNodes(e)[0]
    if (!nodeId) return c.reply(450, `${pret.path} is on storage node ${nodeNames(gw, e.nodes)}, which is down; try again later`)
  } else {
    const e = ses.entry(pret.path)
    nodeId = pret.verb === 'APPE' && e?.type === 'file' ? e.nodes[0] : gw.choose(0, new Set())[0]
    if (!nodeId || !gw.links.get(nodeId)?.up) return c.reply(452, 'Insufficient storage space: no storage node can take the file')
  }
  const link = gw.links.get(nodeId)!
  let opened
  try {
    opened = await link.listen(c.address)
  } catch (error) {
    return c.reply(425, `Cannot open passive connection: ${(error as Error).message}`)
  }
  s.direct = {nodeId, handle: opened.handle, path: pret.path, verb: pret.verb}
  if (verb === 'EPSV') return c.reply(229, formatEpsv(opened.port))
  const text = formatPasv(link.node.host, opened.port)
  if (!text) return c.reply(425, 'PASV needs an IPv4 address; use EPSV')
  c.reply(227, text)
}

function hashReply(c: FtpConnection, arg: string, verb: 'HASH' | 'XSHA256'): void {
  const target = c.resolve(arg)
  if (target === null) return
  const ses = session(c)
  if (!ses.can('download')) return c.reply(550, 'Permission denied')
  const e = ses.entry(target)
  if (!e || e.type !== 'file' || !e.sha256) return c.reply(550, 'No such file')
  if (verb === 'XSHA256') return c.reply(213, e.sha256)
  c.reply(213, `SHA-256 0-${Math.max(0, e.size - 1)} ${e.sha256} ${target}`)
}

export function gatewayCommands(gw: Gateway): ReadonlyMap<string, Command> {
  const own: CommandSet = {
    RETR: {auth: true, needsArg: true, run: (c, arg) => retr(gw, c, arg)},
    STOR: {auth: true, needsArg: true, run: (c, arg) => store(gw, c, arg, false)},
    APPE: {auth: true, needsArg: true, run: (c, arg) => store(gw, c, arg, true)},
    PORT: {auth: true, needsArg: true, run: (c, arg) => port(c, parsePort(arg), 'PORT')},
    EPRT: {auth: true, needsArg: true, run: (c, arg) => port(c, parseEprt(arg), 'EPRT')},
    PASV: {auth: true, run: (c, arg) => passive(gw, c, arg, 'PASV')},
    EPSV: {
      auth: true,
      run(c, arg) {
        if (arg.trim().toUpperCase() === 'ALL') return DATA_COMMANDS.EPSV.run(c, arg)
        return passive(gw, c, arg, 'EPSV')
      },
    },
    PRET: {
      auth: true,
      needsArg: true,
      run(c, arg) {
        const space = arg.trim().indexOf(' ')
        const verb = (space < 0 ? arg.trim() : arg.trim().slice(0, space)).toUpperCase()
        const rest = space < 0 ? '' : arg.trim().slice(space + 1)
        const s = state(c)
        s.pret = null
        if (verb === 'LIST' || verb === 'NLST' || verb === 'MLSD') return c.reply(200, 'OK, listings come from the gateway')
        if (verb !== 'RETR' && verb !== 'STOR' && verb !== 'APPE') return c.reply(504, `PRET ${verb.slice(0, 8)} is not supported`)
        const target = c.resolve(rest)
        if (target === null) return
        s.pret = {verb, path: target}
        c.reply(200, 'OK, the next PASV goes to the storage node')
      },
    },
    HASH: {auth: true, needsArg: true, run: (c, arg) => hashReply(c, arg, 'HASH')},
    XSHA256: {auth: true, needsArg: true, run: (c, arg) => hashReply(c, arg, 'XSHA256')},
    FEAT: {auth: false, run: (c) => c.reply(211, ['Features:', ...FEATURES, 'PRET', 'HASH SHA-256*', 'XSHA256', 'End'].join('\n'))},
    OPTS: {
      auth: false,
      needsArg: true,
      run(c, arg) {
        const [opt, value] = arg.trim().toUpperCase().split(/\s+/)
        if (opt !== 'HASH') return COMMANDS.get('OPTS')!.run(c, arg)
        if (value === undefined || value === 'SHA-256') return c.reply(200, 'SHA-256')
        c.reply(501, 'SHA-256 only')
      },
    },
    ABOR: {
      auth: false,
      run(c) {
        resetData(c)
        c.reply(226, 'ABOR successful')
      },
    },
  }
  return new Map([...COMMANDS, ...Object.entries(own)])
}
