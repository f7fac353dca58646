// Initiates replica set rs0 with a `region` tag on every member; chat-service refuses to start
// unless every member's tag is in CHAT_ALLOWED_REGIONS. Safe to run again: it only reports.
const members = [
  { _id: 0, host: "mongo1:27017", tags: { region: "EU_CENTRAL_1" } },
  { _id: 1, host: "mongo2:27017", tags: { region: "EU_WEST_1" } },
  { _id: 2, host: "mongo3:27017", tags: { region: "EU_WEST_3" } },
];
try {
  const status = rs.status();
  print(`replica set ${status.set} already initiated`);
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
  rs.initiate({ _id: "rs0", members: members });
  print("replica set rs0 initiated");
}
// Wait for a primary so the chat nodes find a writable majority when they start.
for (let i = 0; i < 60; i++) {
  if (db.hello().isWritablePrimary) break;
  sleep(1000);
}
