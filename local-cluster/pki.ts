// Certificates for the local control plane, made with openssl: a CA, the API server's serving
// certificate (real TLS, so clients verify it as they would on a kind cluster), an admin client
// certificate, and the service-account signing key pair.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Pki {
  dir: string
  caCert: string
  caKey: string
  apiserverCert: string
  apiserverKey: string
  adminCert: string
  adminKey: string
  saKey: string
  saPub: string
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

export function ensurePki(dir: string, apiserverIp: string): Pki {
  mkdirSync(dir, { recursive: true })
  const p = (f: string) => join(dir, f)
  const pki: Pki = {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    apiserverCert: p('apiserver.crt'),
    apiserverKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  }
  if (existsSync(pki.saPub)) return pki
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=local-cluster-ca',
    ],
    dir,
  )
  writeFileSync(
    p('apiserver.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=IP:${apiserverIp},IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
    ].join('\n'),
  )
  writeFileSync(p('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
  const issue = (name: string, subj: string, ext: string) => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir)
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '30',
        '-extfile',
        ext,
      ],
      dir,
    )
  }
  issue('apiserver', '/CN=kube-apiserver', 'apiserver.ext')
  issue('admin', '/O=system:masters/CN=local-admin', 'client.ext')
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir)
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir)
  return pki
}

export function kubeconfig(pki: Pki, server: string, user: { cert: string; key: string } | { tokenFile: string }): string {
  const auth = 'cert' in user ? `    client-certificate: ${user.cert}\n    client-key: ${user.key}\n` : `    tokenFile: ${user.tokenFile}\n`
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${server}
    certificate-authority: ${pki.caCert}
users:
- name: local
  user:
${auth}contexts:
- name: local
  context:
    cluster: local
    user: local
current-context: local
`
}
