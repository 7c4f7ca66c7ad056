import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'

export type PlainNode = Libp2p<{ pubsub: GossipSub; identify: ReturnType<ReturnType<typeof identify>> }>

/**
 * A plain js-libp2p gossipsub node on 127.0.0.1, with no Capsule code on its send or receive
 * path: what the hostile peers of the e2e tests are made of.
 */
export async function startPlainNode(privateKey?: PrivateKey): Promise<PlainNode> {
  const node = await createLibp2p({
    ...(privateKey ? { privateKey } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true }),
    },
  })
  return node as unknown as PlainNode
}
