import { describe, expect, it } from 'vitest'
import { supervisorEnv } from '../../src/expose/supervisor.ts'

describe("the supervisor's environment", () => {
  it('keeps what kubectl and Node need, drops the inputs and the runner tokens', () => {
    const env = supervisorEnv({
      PATH: '/usr/bin',
      HOME: '/home/runner',
      KUBECONFIG: '/tmp/kc',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      NODE_EXTRA_CA_CERTS: '/ca.pem',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      INPUT_VALUES: 'password: hunter2',
      'INPUT_KUBECTL-VERSION': 'v1.35.2',
      ACTIONS_RUNTIME_TOKEN: 'secret',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'secret',
      GITHUB_TOKEN: 'secret',
      GITHUB_STATE: '/tmp/state',
      RUNNER_TEMP: '/tmp',
      AWS_SECRET_ACCESS_KEY: 'secret',
    })
    expect(Object.keys(env).sort()).toEqual([
      'HOME',
      'HTTPS_PROXY',
      'KUBECONFIG',
      'KUBERNETES_SERVICE_HOST',
      'NODE_EXTRA_CA_CERTS',
      'PATH',
      'no_proxy',
    ])
  })
})
