// What `cluster demo --stripe` prints: how to connect to the gateway with curl, lftp, sftp and the CLI.
import type {DemoCluster} from './demo-cluster.js'

/** The connection lines of `demo --stripe`: FTP on the gateway's port with curl and lftp, SFTP, the CLI. */
export function stripeDemoText(demo: DemoCluster, bin: string, b: (s: string) => string): string {
  const s = demo.stripe!
  const u = demo.user
  const g = s.gateway
  return `
${b('Gateway')}       ${g}  (FTP and explicit FTPS on port ${s.ftpPort}, SFTP on ${s.sftpPort}; primary, admin SSH 14983)
${b('Storage nodes')} ${s.storageNodes.join(', ')} (1 GiB each, ${s.replicas} copies of every file)
${b('Admin')}         user admin, password ${demo.adminPassword}
${b('File user')}     ${u.name} / ${u.password}

Try it (in another terminal):
  curl -T README.md -u ${u.name}:${u.password} ftp://${g}:${s.ftpPort}/
  curl -u ${u.name}:${u.password} ftp://${g}:${s.ftpPort}/README.md
  curl -P - -u ${u.name}:${u.password} ftp://${g}:${s.ftpPort}/README.md   # active mode: the data comes from a storage node
  lftp -u ${u.name},${u.password} -e 'set ssl:verify-certificate no; ls; bye' ftp://${g}:${s.ftpPort}
  sftp -P ${s.sftpPort} ${u.name}@${g}
  export CLUSTER_PRIMARY=${g} CLUSTER_PASSWORD='${demo.adminPassword}'
  ${bin} stripe status

Data in ${demo.dir}. Press Ctrl-C to stop the cluster.`
}
