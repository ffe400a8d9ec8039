// Real etcd for tests: src/store/local-etcd.ts (also used by `meshlet demo --mesh` and the mesh
// bench); tests skip with this message only when etcd is not installed (.ci/run installs it).
export { etcdMissing, startEtcd, type EtcdCluster, type EtcdMember } from '../../src/store/local-etcd.js';
