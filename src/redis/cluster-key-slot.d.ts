// The hash slot of a key (CRC16 mod 16384, honouring {hash tags}), as Redis Cluster computes it;
// the package (ioredis's own) ships no types.
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string): number;
}
