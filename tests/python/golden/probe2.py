import os; NSQD_TCP_PORT=int(os.environ.get('NSQD_TCP_PORT','4150')); NSQD_HTTP_PORT=int(os.environ.get('NSQD_HTTP_PORT','4151'))  # weir: ports from the environment
import socket, struct, json, time, sys, urllib.request
sys.path.insert(0, __import__('os').path.dirname(__file__))
from probe_tcp_lib import *
def http(method,path,body=None):
    r=urllib.request.Request('http://127.0.0.1:%d'%NSQD_HTTP_PORT+path,method=method,data=body)
    try: return urllib.request.urlopen(r).read()
    except urllib.error.HTTPError as e: return ('HTTP %d '%e.code).encode()+e.read()
def stats(t):
    j=json.loads(http('GET','/stats?format=json&include_mem=false&topic='+t))
    return j['topics'][0]['channels'][0] if j['topics'] and j['topics'][0]['channels'] else j
T='flow%d'%int(time.time())
http('POST','/topic/create?topic='+T); http('POST','/channel/create?topic=%s&channel=ch'%T)
http('POST','/pub?topic='+T,b'm1')
s=conn(); identify(s,{'heartbeat_interval':1000,'msg_timeout':1000}); show('IDENTIFY msg_timeout 1000',s)
cmd(s,'SUB %s ch'%T); show('SUB',s); cmd(s,'RDY 1')
ft,d=show('msg1',s); m=parse(d); print('   ',m)
cmd(s,'REQ %s 0'%m['id']); ft,d=show('redelivery after REQ 0',s); m=parse(d); print('   ',m)
cmd(s,'TOUCH %s'%m['id']); cmd(s,'NOP')
print('   waiting 1.5s without FIN (msg_timeout=1000ms)...'); 
ft,d,el=next_msg(s,10); m=parse(d); print('    timed-out msg redelivered after %.2fs'%el, m)
print('   stats:',{k:v for k,v in stats(T).items() if k!='clients'})
cmd(s,'FIN %s'%m['id']); cmd(s,'FIN %s'%m['id']); show('FIN twice',s); print('  conn:',still_open(s))
cmd(s,'REQ %s 0'%('0'*16)); show('REQ unknown',s); print('  conn:',still_open(s))
cmd(s,'TOUCH %s'%('0'*16)); show('TOUCH unknown',s); print('  conn:',still_open(s))
cmd(s,'REQ %s'%('0'*16)); show('REQ missing timeout',s); print('  conn:',still_open(s))
s=conn(); identify(s,{'heartbeat_interval':1000}); show('IDENTIFY',s); cmd(s,'SUB %s ch'%T); show('SUB',s)
cmd(s,'FIN abc'); show('FIN short id',s); print('  conn:',still_open(s))
# REQ clamp + deferred + RDY window semantics
for i in range(3): http('POST','/pub?topic='+T,b'w%d'%i)
s=conn(); identify(s,{'heartbeat_interval':1000}); show('IDENTIFY',s); cmd(s,'SUB %s ch'%T); show('SUB',s); cmd(s,'RDY 2')
ft,d=show('msg A',s); a=parse(d); ft,d=show('msg B',s); b=parse(d); print('   ',a,b)
s.settimeout(0.7)
try: ft,d=frame(s); print('   UNEXPECTED third frame', ft, d)
except socket.timeout: print('   no 3rd message while 2 in flight with RDY 2 (RDY is a window, not a countdown)')
s.settimeout(3)
cmd(s,'REQ %s 99999999999'%a['id']); cmd(s,'FIN %s'%b['id'])
ft,d=show('msg C after FIN/REQ',s); c=parse(d); print('   ',c); cmd(s,'FIN %s'%c['id']); time.sleep(0.3)
print('   stats:',{k:v for k,v in stats(T).items() if k!='clients'})
cmd(s,'RDY 0'); t0=time.time(); show('wait for heartbeat (hb=1000)',s); print('   after %.2fs'%(time.time()-t0))
cmd(s,'CLS'); show('CLS',s); print('   conn after CLS:',still_open(s))
# client stats sample
s2=conn(); identify(s2,{'heartbeat_interval':1000,'client_id':'cid','hostname':'hn','user_agent':'ua/1'}); show('IDENTIFY',s2); cmd(s2,'SUB %s ch'%T); show('SUB',s2); cmd(s2,'PUB %s'%T,b'z'); show('PUB',s2)
time.sleep(0.2)
print('STATS JSON with client:', http('GET','/stats?format=json&include_mem=false&topic='+T).decode())
# heartbeat timeout: stop responding
s3=conn(); identify(s3,{'heartbeat_interval':1000}); show('IDENTIFY',s3); t0=time.time()
for i in range(10):
    try:
        ft,d=frame(s3); print('   hb frame at %.2fs %r'%(time.time()-t0,d))
    except Exception as e: print('   closed at %.2fs (%r)'%(time.time()-t0,e)); break
