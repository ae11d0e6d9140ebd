// Headless Node-RED for bench/mqtt_e2e: no editor, no admin API, no HTTP
// server at all; the flow (flows.json) is the whole application.
module.exports = {
  flowFile: 'flows.json',
  userDir: process.env.NODE_RED_USER_DIR,
  httpAdminRoot: false,
  httpNodeRoot: false,
  credentialSecret: false,
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
  functionExternalModules: false,
};
