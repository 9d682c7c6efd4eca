import os; NSQD_TCP_PORT=int(os.environ.get('NSQD_TCP_PORT','4150')); NSQD_HTTP_PORT=int(os.environ.get('NSQD_HTTP_PORT','4151'))  # weir: ports from the environment
import socket, struct, json
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
    sz=struct.unpack('>i',recvn(s,4))[0]; ft=struct.unpack('>i',recvn(s,4))[0]; d=recvn(s,sz-4); return ft,d
def cmd(s,line,body=None):
    b=line.encode()+b'\n'
    if body is not None: b+=struct.pack('>i',len(body))+body
    s.sendall(b)
def identify(s,d): cmd(s,'IDENTIFY',json.dumps(d).encode())
def show(label,s):
    try:
        ft,d=frame(s); print('%-40s type=%d data=%r'%(label,ft,d[:200])); return ft,d
    except Exception as e: print('%-40s EXC %r'%(label,e)); return None,None
def parse(d):
    ts,att=struct.unpack('>qH',d[:10]); return {'ts':ts,'attempts':att,'id':d[10:26].decode(),'body':d[26:]}
def still_open(s):
    s.settimeout(0.5)
    try:
        x=s.recv(1,socket.MSG_PEEK); r='CLOSED' if x==b'' else 'OPEN(pending data)'
    except socket.timeout: r='OPEN'
    except Exception as e: r='CLOSED(%r)'%e
    s.settimeout(3); return r
import time
def next_msg(s, maxwait=10):
    t0=time.time()
    while time.time()-t0<maxwait:
        ft,d=frame(s)
        if ft==0 and d==b'_heartbeat_': cmd(s,'NOP'); continue
        return ft,d,time.time()-t0
    return None,None,maxwait
