/**
 * flow.Flow field numbers (proto/flow/flow.proto), for the code that reads and
 * writes Flow wire bytes directly: scanFlow (wire → row) and writeFlowRow
 * (row → wire) share them.
 */
export const F_TIME = 1, F_VERDICT = 2, F_DROP_REASON = 3, F_ETHERNET = 4, F_IP = 5, F_L4 = 6;
export const F_SOURCE = 8, F_DESTINATION = 9, F_TYPE = 10, F_NODE_NAME = 11, F_SOURCE_NAMES = 13;
export const F_DESTINATION_NAMES = 14, F_L7 = 15, F_REPLY = 16, F_EVENT_TYPE = 19, F_SOURCE_SERVICE = 20;
export const F_DESTINATION_SERVICE = 21, F_DIRECTION = 22, F_POLICY_MATCH = 23, F_OBS_POINT = 24;
export const F_DROP_REASON_DESC = 25, F_IS_REPLY = 26, F_INTERFACE = 28, F_PROXY_PORT = 29, F_UUID = 34;
export const F_AUTH_TYPE = 35, F_TRACE_REASON = 36, F_NODE_LABELS = 37, F_EMITTER = 41, F_SUMMARY = 100000;
export const F_EGRESS_ALLOWED = 21001, F_INGRESS_ALLOWED = 21002, F_EGRESS_DENIED = 21004;
export const F_INGRESS_DENIED = 21005, F_POLICY_LOG = 21006;

/** Layer7.http, and HTTP.headers. */
export const L7_HTTP = 101;
export const HTTP_HEADERS = 5;
