// The two parts of @kubernetes/client-node the action uses, imported by name: the bundler then
// leaves out the generated API clients and models (most of the library, which the action never
// calls: it sends JSON requests itself), and loading the client costs ~45 MB less memory. A
// namespace import (`import * as k8s`) would keep every export.
export { KubeConfig, Watch } from '@kubernetes/client-node'
