import { describe, expect, it } from 'vitest'
import { MASK, maskSecrets, maskText } from '../../src/report/diagnostics-dir.ts'

describe('maskSecrets', () => {
  it.each<[string, unknown, string[], unknown]>([
    ['a secret-looking key', { minio: { secretKey: 's3', accessKey: 'ak', mode: 'standalone' } }, [], { minio: { secretKey: MASK, accessKey: MASK, mode: 'standalone' } }],
    ['everything under one', { auth: { password: { nested: ['a', 'b'] } } }, [], { auth: { password: { nested: [MASK, MASK] } } }],
    ['a known secret value anywhere', { extraConfig: 'user: x\npass: hunter2\n' }, ['hunter2'], { extraConfig: `user: x\npass: ${MASK}\n` }],
    ["Prometheus' credentials", { scrape_configs: [{ basic_auth: { username: 'u', password: 'p' }, authorization: { credentials_file: '/x' } }] }, [], { scrape_configs: [{ basic_auth: { username: 'u', password: MASK }, authorization: { credentials_file: MASK } }] }],
    ['empty and non-string values kept', { token: '', port: 9091, enabled: true }, [], { token: '', port: 9091, enabled: true }],
  ])('%s', (_, value, secrets, want) => {
    expect(maskSecrets(value, secrets)).toEqual(want)
  })
})

describe('maskText', () => {
  it.each([
    ['password hunter2 in a line', ['hunter2'], `password ${MASK} in a line`],
    ['url https://user:pw@host/x', [], 'url https://***@host/x'],
    ['Authorization: Bearer abc.def', [], 'Authorization: Bearer ***'],
    ['nothing secret', ['', 'zzz'], 'nothing secret'],
  ])('%j', (text, secrets, want) => {
    expect(maskText(text, secrets)).toBe(want)
  })
})
