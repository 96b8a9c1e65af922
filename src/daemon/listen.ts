// Binding a listener with errors that say what happened and what to do.
import type {Server} from 'node:net'
import {OperationError, formatHostPort} from '../protocol/index.js'

export function listen(server: Server, host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      const at = formatHostPort(host, port)
      if (error.code === 'EADDRINUSE') {
        reject(new OperationError('io', `cannot start the ${what} on ${at}: the port is already in use`, `stop the process using it (\`ss -ltnp 'sport = :${port}'\`) or give this site another port`))
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'EINVAL') {
        reject(new OperationError('io', `cannot start the ${what} on ${at}: the address ${host} is not an address of this machine`, 'fix "bind" in node.json (or re-run `cluster node init --bind ADDR`)'))
      } else if (error.code === 'EACCES') {
        reject(new OperationError('io', `cannot start the ${what} on ${at}: permission denied`, 'ports below 1024 need root or CAP_NET_BIND_SERVICE; use a higher port'))
      } else {
        reject(new OperationError('io', `cannot start the ${what} on ${at}: ${error.message}`))
      }
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({host, port, exclusive: true})
  })
}
