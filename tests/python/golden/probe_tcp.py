import os; NSQD_TCP_PORT=int(os.environ.get('NSQD_TCP_PORT','4150')); NSQD_HTTP_PORT=int(os.environ.get('NSQD_HTTP_PORT','4151'))  # weir: ports from the environment
import socket, struct, json, time, ssl, sys
H='127.0.0.1'
def conn(port=NSQD_TCP_PORT, magic=b'  V2'):
    s=socket.create_connection((H,port),timeout=3); s.sendall(magic); return s
def recvn(s,n):
    b=b''
    while len(b)<n:
        c=s.recv(n-len(b))
        if not c: raise EOFError('closed after %d bytes'%len(b))
        b+=c
    return b
def frame(s):
    sz=struct.unpack('>i',recvn(s,4))[0]; ft=struct.unpack('>i',recvn(s,4))[0]; d=recvn(s,sz-4); return sz,ft,d
def cmd(s,line,body=None):
    b=line.encode()+b'\n'
    if body is not None: b+=struct.pack('>i',len(body))+body
    s.sendall(b)
def identify(s,d): cmd(s,'IDENTIFY',json.dumps(d).encode())
def show(label,s):
    try:
        sz,ft,d=frame(s); print('%-45s size=%d type=%d data=%r'%(label,sz,ft,d[:300]))
        return ft,d
    except Exception as e: print('%-45s EXC %r'%(label,e)); return None,None
def closed(s):
    s.settimeout(1.0)
    try:
        x=s.recv(1); return 'CLOSED' if x==b'' else 'OPEN(data %r)'%x
    except socket.timeout: return 'OPEN'
    except Exception as e: return 'CLOSED(%r)'%e

# 1. feature negotiation
s=conn(); identify(s,{'client_id':'probe','hostname':'probe','feature_negotiation':True,'user_agent':'probe/1.0','short_id':'x','long_id':'y','unknown_field':1})
show('IDENTIFY feature_negotiation',s)
cmd(s,'SUB t1 c1'); show('SUB t1 c1',s)
cmd(s,'SUB t1 c1'); show('SUB again',s); print('  conn after SUB again:',closed(s))

# 2. no feature negotiation
s=conn(); identify(s,{'client_id':'probe'}); show('IDENTIFY no negotiation',s)
cmd(s,'PUB t2',b'hello-t2'); show('PUB t2',s)
cmd(s,'MPUB t2',struct.pack('>i',2)+struct.pack('>i',1)+b'x'+struct.pack('>i',2)+b'yy'); show('MPUB t2',s)
cmd(s,'DPUB t2 1000',b'deferred'); show('DPUB t2 1000',s)
cmd(s,'NOP'); print('  NOP -> (no response expected)', closed(s))
s.settimeout(3)
cmd(s,'RDY 1'); show('RDY before SUB',s); print('  conn:',closed(s))

# 3. errors, each fresh conn
cases=[('garbage','ASDF',None),('empty line','',None),('PUB bad topic','PUB bad!t',b'x'),('PUB no topic','PUB',None),
('PUB zero body','PUB t2',b''),('DPUB negative','DPUB t2 -1',b'x'),('DPUB too long','DPUB t2 3600001',b'x'),
('FIN before SUB','FIN 0000000000000000',None),('CLS before SUB','CLS',None),('AUTH disabled','AUTH',b'secret'),
('SUB bad channel','SUB t1 bad!c',None),('SUB missing channel','SUB t1',None),('TOUCH before SUB','TOUCH 0000000000000000',None),
('topic 65 chars','PUB '+'a'*65,b'x'),('topic #ephemeral','PUB t3#ephemeral',b'x'),('topic with #eph prefix','PUB t#ephemeralx',b'x')]
for label,line,body in cases:
    s=conn(); cmd(s,line,body); show(label,s); print('  conn after:',closed(s))

# 4. IDENTIFY invalids
for label,d in [('hb 100',{'heartbeat_interval':100}),('hb 60001',{'heartbeat_interval':60001}),('obs 10',{'output_buffer_size':10}),
('obt 10',{'output_buffer_timeout':10}),('sample 100',{'sample_rate':100}),('msg_timeout 500',{'msg_timeout':500}),
('msg_timeout 900001',{'msg_timeout':900001}),('snappy+deflate',{'feature_negotiation':True,'snappy':True,'deflate':True}),
('deflate_level 9',{'feature_negotiation':True,'deflate':False,'deflate_level':9})]:
    s=conn(); identify(s,d); show('IDENTIFY '+label,s); print('  conn after:',closed(s))
s=conn(); cmd(s,'IDENTIFY',b'{bad json'); show('IDENTIFY bad json',s)
s=conn(); s.sendall(b'IDENTIFY\n'+struct.pack('>i',0)); show('IDENTIFY zero len',s)
s=socket.create_connection((H,NSQD_TCP_PORT),timeout=3); s.sendall(b'  V1'); show('bad magic V1',s); print('  conn:',closed(s))

# 5. heartbeat disabled then SUB
s=conn(); identify(s,{'heartbeat_interval':-1}); show('IDENTIFY hb -1',s); cmd(s,'SUB t1 c1'); show('SUB with hb disabled',s)

# The message flow (RDY, REQ, TOUCH, FIN, timeouts, CLS, heartbeats) is probed by probe2.py.
