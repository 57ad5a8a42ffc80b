// bittorrent-tracker (npm) as the tracker bench's reference: WebSocket announces only, no UDP,
// no HTTP announces, no stats page. Usage: node bench/bittorrent_tracker.mjs [port]
// Prints "listening <port>" once it accepts connections.
import Server from 'bittorrent-tracker/server'

const server = new Server({ udp: false, http: false, ws: true, stats: false })
server.on('error', (err) => {
  console.error(`bittorrent-tracker: ${err.message}`)
  process.exit(1)
})
server.on('warning', () => {}) // client mistakes; the load generator counts its own failures
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`listening ${server.ws.address().port}`)
})
