import { describe, expect, it } from 'vitest'
import { describeProxy, noProxyMatch, proxyForUrl, redactProxy } from '../../src/cluster/proxy.ts'

const P = 'http://proxy.corp:3128'
const BOTH = { HTTPS_PROXY: P, HTTP_PROXY: 'http://plain.corp:8080' }

describe('proxyForUrl: kubectl (Go http.ProxyFromEnvironment) rules', () => {
  it.each<[string, string, NodeJS.ProcessEnv, string | undefined, string]>([
    ['https uses HTTPS_PROXY', 'https://api.example:6443', BOTH, P, 'HTTPS_PROXY'],
    ['http uses HTTP_PROXY', 'http://dl.example/x', BOTH, 'http://plain.corp:8080', 'HTTP_PROXY'],
    ['lower-case forms', 'https://api.example', { https_proxy: P }, P, 'https_proxy'],
    ['upper case wins, as in Go', 'https://api.example', { HTTPS_PROXY: P, https_proxy: 'http://other:1' }, P, 'HTTPS_PROXY'],
    ['no fallback from https to HTTP_PROXY', 'https://api.example', { HTTP_PROXY: P }, undefined, 'no HTTPS_PROXY set'],
    ['a value without scheme is http://', 'https://api.example', { HTTPS_PROXY: 'proxy.corp:3128' }, P, 'HTTPS_PROXY'],
    ['nothing set', 'https://api.example', {}, undefined, 'no HTTPS_PROXY set'],
    ['localhost is never proxied', 'https://localhost:6443', BOTH, undefined, 'loopback host'],
    ['127.0.0.0/8 is never proxied (kind)', 'https://127.0.0.1:41234', BOTH, undefined, 'loopback host'],
    ['127.1.2.3 too', 'http://127.1.2.3/', BOTH, undefined, 'loopback host'],
    ['::1 too', 'https://[::1]:6443', BOTH, undefined, 'loopback host'],
    ['other schemes never', 'ftp://api.example', BOTH, undefined, 'ftp: is never proxied'],
    [
      'NO_PROXY exempts',
      'https://api.example:6443',
      { ...BOTH, NO_PROXY: 'x.org, api.example' },
      undefined,
      'NO_PROXY entry "api.example"',
    ],
    ['no_proxy too', 'https://api.example', { ...BOTH, no_proxy: '.example' }, undefined, 'no_proxy entry ".example"'],
  ])('%s', (_, url, env, proxy, reason) => {
    expect(proxyForUrl(url, env)).toEqual(proxy === undefined ? { reason } : { proxy, reason })
  })

  it('reads process.env by default, at each call', () => {
    const saved = process.env.HTTPS_PROXY
    process.env.HTTPS_PROXY = P
    try {
      expect(proxyForUrl('https://api.example').proxy).toBe(P)
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY
      else process.env.HTTPS_PROXY = saved
    }
  })
})

describe('noProxyMatch', () => {
  it.each<[string, string, string, string | undefined]>([
    ['*', 'anything.example', '443', '*'],
    ['corp.example', 'corp.example', '443', 'corp.example'],
    ['corp.example', 'api.corp.example', '443', 'corp.example'],
    ['corp.example', 'notcorp.example', '443', undefined],
    ['.corp.example', 'api.corp.example', '443', '.corp.example'],
    ['.corp.example', 'corp.example', '443', undefined],
    ['*.corp.example', 'api.corp.example', '443', '*.corp.example'],
    ['*.corp.example', 'corp.example', '443', undefined],
    ['CORP.example', 'api.corp.example', '443', 'CORP.example'],
    ['api.example:6443', 'api.example', '6443', 'api.example:6443'],
    ['api.example:6443', 'api.example', '443', undefined],
    ['10.0.0.0/8', '10.1.2.3', '6443', '10.0.0.0/8'],
    ['10.0.0.0/8', '11.1.2.3', '6443', undefined],
    ['10.0.0.0/8', 'ten.example', '6443', undefined],
    ['fd00::/8', 'fd00::2', '443', 'fd00::/8'],
    ['192.0.2.2', '192.0.2.2', '443', '192.0.2.2'],
    ['192.0.2.2:443', '192.0.2.2', '80', undefined],
    ['[fd00::2]:443', 'fd00::2', '443', '[fd00::2]:443'],
    [' , ,', 'a.example', '443', undefined],
  ])('%j vs %s:%s -> %j', (noProxy, host, port, want) => {
    expect(noProxyMatch(noProxy, host, port)).toBe(want)
  })
})

describe('messages', () => {
  it('name the proxy without its password', () => {
    expect(redactProxy('http://user:secret@proxy.corp:3128')).toBe('http://user:***@proxy.corp:3128')
    expect(describeProxy({ proxy: 'http://u:p@proxy.corp:3128/', reason: 'HTTPS_PROXY' })).toBe(
      'via proxy http://u:***@proxy.corp:3128 (HTTPS_PROXY)',
    )
    expect(describeProxy({ reason: 'loopback host' })).toBe('directly (no proxy: loopback host)')
  })
})
