// Which proxy a request goes through, decided from the environment the way kubectl and helm
// decide it (Go's http.ProxyFromEnvironment, golang.org/x/net/http/httpproxy), so the action
// reaches what they reach. This module only decides; the connections are made by libraries:
// undici's ProxyAgent for every download (tools/download.ts), and @kubernetes/client-node's
// proxy agents for the Kubernetes API (cluster/kube.ts hands it the decision as the cluster's
// proxy-url).
import { BlockList, isIP } from 'node:net'

/** Where a request to one URL goes, and why (for logs and error messages). */
export interface ProxyDecision {
  /** The proxy's URL (always with a scheme), or undefined to connect directly. */
  proxy?: string
  /** Why, e.g. 'HTTPS_PROXY', 'loopback host', 'NO_PROXY entry ".corp"', 'no HTTP_PROXY set'. */
  reason: string
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** The first non-empty of the variables, and its name. Upper case first, as Go reads them. */
function envAny(env: NodeJS.ProcessEnv, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim()
    if (value) return { name, value }
  }
  return undefined
}

/** A proxy variable's value as a URL: 'proxy:3128' means 'http://proxy:3128', as in Go. */
function proxyUrl(value: string): string {
  return /^(https?|socks5h?):\/\//i.test(value) ? value : `http://${value}`
}

function hostOf(u: URL): string {
  return u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
}

function ipFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(host)
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined
}

/**
 * The NO_PROXY entry that exempts `host`:`port`, or undefined. Entries are comma-separated:
 * '*' (everything), an IP or CIDR ('10.0.0.0/8', 'fd00::/8'), a domain that matches itself
 * and its subdomains ('corp.example'), '.corp.example' or '*.corp.example' (subdomains only);
 * an IP or a domain may carry ':port' ('[::1]:443' for IPv6).
 */
export function noProxyMatch(noProxy: string, host: string, port: string): string | undefined {
  const family = ipFamily(host)
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return entry
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry)
    if (cidr) {
      const net = cidr[1] ?? ''
      const netFamily = ipFamily(net)
      if (!netFamily || !family || netFamily !== family) continue
      const list = new BlockList()
      try {
        list.addSubnet(net, Number(cidr[2]), netFamily)
      } catch {
        continue // a prefix longer than the address: malformed, ignored as Go does
      }
      if (list.check(host, family)) return raw.trim()
      continue
    }
    const hostPort = /^\[(.+)\]:(\d+)$/.exec(entry) ?? (/^([^:]+):(\d+)$/.exec(entry) as RegExpExecArray | null)
    let entryHost = hostPort ? (hostPort[1] ?? '') : entry.replace(/^\[(.*)\]$/, '$1')
    const entryPort = hostPort ? hostPort[2] : undefined
    if (!entryHost) continue
    if (entryPort !== undefined && entryPort !== port) continue
    const entryFamily = ipFamily(entryHost)
    if (entryFamily) {
      if (family === entryFamily && single(entryHost, entryFamily).check(host, family)) return raw.trim()
      continue
    }
    if (entryHost.startsWith('*.')) entryHost = entryHost.slice(1)
    const subdomainsOnly = entryHost.startsWith('.')
    const suffix = subdomainsOnly ? entryHost : `.${entryHost}`
    if (host.endsWith(suffix) || (!subdomainsOnly && host === entryHost)) return raw.trim()
  }
  return undefined
}

function single(address: string, family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList()
  list.addAddress(address, family)
  return list
}

/**
 * The proxy for a request to `target` under `env` (default: process.env), by kubectl's rules:
 * https URLs use HTTPS_PROXY (or https_proxy), http URLs HTTP_PROXY (or http_proxy), with no
 * fallback from one to the other; 'localhost' and loopback IPs (127.0.0.0/8, ::1) never go
 * through a proxy; NO_PROXY (or no_proxy) exempts hosts as noProxyMatch describes. Pure: reads
 * nothing but its arguments, throws nothing (a URL it cannot parse is connected to directly).
 */
export function proxyForUrl(target: string | URL, env: NodeJS.ProcessEnv = process.env): ProxyDecision {
  let u: URL
  try {
    u = typeof target === 'string' ? new URL(target) : target
  } catch {
    return { reason: 'not a URL' }
  }
  const https = u.protocol === 'https:'
  if (!https && u.protocol !== 'http:') return { reason: `${u.protocol} is never proxied` }
  const names = https ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy']
  const proxy = envAny(env, ...names)
  if (!proxy) return { reason: `no ${names[0]} set` }
  const host = hostOf(u)
  const family = ipFamily(host)
  if (host === 'localhost' || (family && LOOPBACK.check(host, family))) return { reason: 'loopback host' }
  const noProxy = envAny(env, 'NO_PROXY', 'no_proxy')
  const port = u.port || (https ? '443' : '80')
  const exempt = noProxy ? noProxyMatch(noProxy.value, host, port) : undefined
  if (exempt !== undefined) return { reason: `${noProxy?.name} entry ${JSON.stringify(exempt)}` }
  return { proxy: proxyUrl(proxy.value), reason: proxy.name }
}

/** A proxy URL without its password, for messages: 'http://user:***@proxy:3128'. */
export function redactProxy(proxy: string): string {
  try {
    const u = new URL(proxy)
    if (u.password) u.password = '***'
    return u.href.replace(/\/$/, '')
  } catch {
    return proxy.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
  }
}

/** A decision in words: 'via proxy http://p:3128 (HTTPS_PROXY)' or 'directly (no proxy: loopback host)'. */
export function describeProxy(d: ProxyDecision): string {
  return d.proxy ? `via proxy ${redactProxy(d.proxy)} (${d.reason})` : `directly (no proxy: ${d.reason})`
}
