const base = 'http://127.0.0.1:18231';
const r = await fetch(base + '/api/login', {method:'POST', headers:{'content-type':'application/json'}, body: JSON.stringify({username:'s0002', password:'loadtest-pw'})});
const {token} = await r.json();
const ws = new WebSocket('ws://127.0.0.1:18231/ws?token=' + token);
let t0;
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === 'welcome') { console.log('welcome bytes', e.data.length); t0 = performance.now(); ws.send(JSON.stringify({type:'watch', id: 1})); }
  else if (m.type === 'ok' && m.id === 1) {
    const ms = performance.now() - t0;
    const big = m.data.agents.filter(a => a.agent.startsWith('s'));
    console.log('watch answer bytes', e.data.length, 'ms', ms.toFixed(1), 'groups', m.data.groups.length, 'agents', m.data.agents.length, 'agents with >3 cells', big.length, 'cells each', big[0] && big[0].cells.length, 'bytes of one supervisor status', big[0] && JSON.stringify(big[0]).length);
    ws.close(); process.exit(0);
  }
};
