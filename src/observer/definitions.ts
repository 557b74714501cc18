import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from '../paths.js';
import { messageToJsonpb } from '../flows/jsonpb.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { lookupType } from '../flows/schema.js';

/**
 * observer.Observer and grpc.health.v1.Health as served by flowkeeper's
 * Observer face. GetFlows requests are decoded with protobufjs into Hubble's
 * protojson (the shape the REST API takes, so one parser reads both; fields a
 * newer client adds are skipped, not refused), and responses are written as
 * bytes the face encodes itself.
 */
const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(['observer/observer.proto', 'grpc/health/v1/health.proto'], {
  includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
})) as unknown as {
  observer: { Observer: grpc.ServiceClientConstructor };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

const GetFlowsRequestType = lookupType('observer.GetFlowsRequest');
const base = loaded.observer.Observer.service;

export function decodeGetFlowsRequest(bytes: Buffer): JsonObject {
  return messageToJsonpb(GetFlowsRequestType, GetFlowsRequestType.decode(bytes) as unknown as Record<string, unknown>);
}

export const ObserverServerDefinition: grpc.ServiceDefinition = {
  ...base,
  GetFlows: { ...base.GetFlows, requestDeserialize: decodeGetFlowsRequest, responseSerialize: (b: Buffer): Buffer => b },
};

export const HealthDefinition: grpc.ServiceDefinition = loaded.grpc.health.v1.Health.service;
