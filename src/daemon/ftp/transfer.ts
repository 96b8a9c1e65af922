// Moving bytes between a file descriptor and a data socket: large reusable buffers for downloads, positional
// writes of what has arrived for uploads, backpressure both ways.
import type {Socket} from 'node:net'
import {sendFile as sendFileTo} from '../session/send-file.js'
import {writevFully} from '../session/write-fully.js'

/**
 * Upload bytes held while a write is in flight; more pauses the socket. Small on purpose: the kernel copies
 * them into the page cache while they are still in the CPU cache (8 MiB batches made that copy 74 % of the
 * worker's CPU, and uploads cost 2-4× the CPU of vsftpd's read/write loop; see bench/ftp-throughput).
 */
const WRITE_HIGH_WATER = 1024 * 1024

export class TransferAborted extends Error {
  constructor(message = 'transfer aborted') {
    super(message)
    this.name = 'TransferAborted'
  }
}

function writeChunk(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new TransferAborted('data connection closed'))
    socket.write(data, (err) => (err ? reject(new TransferAborted(err.message)) : resolve()))
  })
}

/** Streams `fd` from `start` to EOF (session/send-file.ts: two 1 MiB buffers alternate). */
export function sendFile(fd: number, start: number, socket: Socket, onProgress: (bytes: number) => void): Promise<number> {
  return sendFileTo(fd, socket, start, Infinity, onProgress, () => new TransferAborted('data connection closed'))
}

/**
 * Writes everything the socket delivers until EOF at `start`, each writev taking all that arrived during the
 * previous one; rejects with TransferAborted on a reset.
 */
export function receiveFile(fd: number, start: number, socket: Socket, onProgress: (bytes: number) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let queued: Buffer[] = []
    let queuedBytes = 0
    let position = start
    let writing = false
    let ended = false
    let failed = false
    const fail = (error: Error) => {
      if (failed) return
      failed = true
      socket.destroy()
      reject(error)
    }
    const pump = () => {
      if (writing || failed) return
      if (queuedBytes === 0) {
        if (ended) {
          socket.off('close', onClose)
          resolve(position - start)
        }
        return
      }
      const batch = queued
      const bytes = queuedBytes
      queued = []
      queuedBytes = 0
      writing = true
      writevFully(fd, batch, position, (err) => {
        writing = false
        if (err) return fail(err)
        position += bytes
        if (socket.isPaused() && !ended) socket.resume()
        pump()
      })
    }
    const onClose = () => {
      if (!ended) fail(new TransferAborted('data connection closed before the end of the file'))
    }
    socket.on('data', (chunk: Buffer) => {
      queued.push(chunk)
      queuedBytes += chunk.length
      onProgress(chunk.length)
      if (queuedBytes >= WRITE_HIGH_WATER) socket.pause()
      pump()
    })
    socket.once('end', () => {
      ended = true
      pump()
    })
    socket.once('close', onClose)
    socket.on('error', (e) => fail(new TransferAborted(e.message)))
    socket.resume()
  })
}

/** Sends a listing (or any text) and ends the socket. */
export async function sendText(socket: Socket, text: string): Promise<void> {
  if (text.length > 0) await writeChunk(socket, Buffer.from(text, 'utf8'))
}

/** Ends a data socket cleanly (TLS close_notify first) and waits until it is closed. */
export function finishSocket(socket: Socket, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve()
    const timer = setTimeout(() => {
      socket.destroy()
      resolve()
    }, timeoutMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.end()
    socket.resume() // drain whatever the peer still sends so its FIN is seen
  })
}
