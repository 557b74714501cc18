import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from '../paths.js';

/**
 * observer.Observer as a grpc-js service definition, loaded with proto-loader
 * from proto/. GetFlows responses stay raw bytes on both sides: the client hands
 * them to the ingest worker undecoded, and the simulator can send pre-encoded
 * (or deliberately broken) messages.
 */
const packageDefinition = protoLoader.loadSync('observer/observer.proto', {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  observer: { Observer: grpc.ServiceClientConstructor };
};

const base = loaded.observer.Observer.service;

const identity = (b: Buffer): Buffer => b;

export const ObserverService: grpc.ServiceDefinition = {
  ...base,
  GetFlows: { ...base.GetFlows, responseSerialize: identity, responseDeserialize: identity },
};

export const ObserverClient = grpc.makeGenericClientConstructor(ObserverService, 'Observer') as grpc.ServiceClientConstructor;

export const GET_FLOWS_PATH = '/observer.Observer/GetFlows';
