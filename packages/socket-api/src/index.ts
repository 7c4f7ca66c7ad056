export {
  ApiError,
  type ApiErrorBody,
  type ApiErrorCode,
  DaemonNotRunningError,
  DaemonRunningError,
} from './errors.js'
export { type RequestOptions, SocketClient } from './socket-client.js'
export {
  type Handler,
  type Logger,
  MAX_BODY_BYTES,
  type RequestContext,
  type Route,
  SocketServer,
  type SocketServerConfig,
} from './socket-server.js'
