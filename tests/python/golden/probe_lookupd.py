import os; LOOKUPD_TCP_PORT=int(os.environ.get('LOOKUPD_TCP_PORT','4160')); LOOKUPD_HTTP_PORT=int(os.environ.get('LOOKUPD_HTTP_PORT','4161'))  # weir: ports from the environment
import socket, struct, json, time, urllib.request
def conn():
    s=socket.create_connection(('127.0.0.1',LOOKUPD_TCP_PORT),timeout=3); s.sendall(b'  V1'); return s
def recvn(s,n):
    b=b''
    while len(b)<n:
        c=s.recv(n-len(b))
        if not c: raise EOFError('closed after %d'%len(b))
        b+=c
    return b
def resp(s,label):
    try:
        sz=struct.unpack('>i',recvn(s,4))[0]; d=recvn(s,sz); print('%-38s size=%d data=%r'%(label,sz,d)); return d
    except Exception as e: print('%-38s EXC %r'%(label,e))
def alive(s):
    s.settimeout(0.5)
    try: x=s.recv(1,socket.MSG_PEEK); r='CLOSED' if x==b'' else 'OPEN(pending)'
    except socket.timeout: r='OPEN'
    except Exception as e: r='CLOSED(%r)'%e
    s.settimeout(3); return r
s=conn(); s.sendall(b'PING\n'); resp(s,'PING before IDENTIFY')
s.sendall(b'REGISTER foo\n'); resp(s,'REGISTER before IDENTIFY'); print('  conn:',alive(s))
s=conn(); body=json.dumps({'broadcast_address':'10.9.9.9','tcp_port':5150,'http_port':5151,'version':'1.3.0','hostname':'fakehost'}).encode()
s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body))+body); resp(s,'IDENTIFY')
s.sendall(b'REGISTER lt1\n'); resp(s,'REGISTER lt1')
s.sendall(b'REGISTER lt1 lc1\n'); resp(s,'REGISTER lt1 lc1')
s.sendall(b'REGISTER lt1 lc2#ephemeral\n'); resp(s,'REGISTER lt1 lc2#ephemeral')
print('  /lookup lt1:', urllib.request.urlopen('http://127.0.0.1:%d/'%LOOKUPD_HTTP_PORT+'lookup?topic=lt1').read().decode())
s.sendall(b'UNREGISTER lt1 lc2#ephemeral\n'); resp(s,'UNREGISTER lt1 lc2#ephemeral')
s.sendall(b'UNREGISTER lt1 lc1\n'); resp(s,'UNREGISTER lt1 lc1')
print('  /channels lt1:', urllib.request.urlopen('http://127.0.0.1:%d/'%LOOKUPD_HTTP_PORT+'channels?topic=lt1').read().decode())
s.sendall(b'PING\n'); resp(s,'PING')
s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body))+body); resp(s,'IDENTIFY again'); print('  conn:',alive(s))
s=conn(); body2=json.dumps({'broadcast_address':'x','tcp_port':1}).encode(); s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body2))+body2); resp(s,'IDENTIFY missing fields'); print('  conn:',alive(s))
s=conn(); s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body))+body); resp(s,'IDENTIFY')
s.sendall(b'REGISTER bad!topic\n'); resp(s,'REGISTER bad topic'); print('  conn:',alive(s))
s=conn(); s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body))+body); resp(s,'IDENTIFY')
s.sendall(b'REGISTER\n'); resp(s,'REGISTER no params'); print('  conn:',alive(s))
s=conn(); s.sendall(b'FOO\n'); resp(s,'FOO'); print('  conn:',alive(s))
s=socket.create_connection(('127.0.0.1',LOOKUPD_TCP_PORT),timeout=3); s.sendall(b'  V2'); resp(s,'bad magic'); print('  conn:',alive(s))
s=conn(); s.sendall(b'IDENTIFY\n'+struct.pack('>i',len(body))+body); resp(s,'IDENTIFY (then close)'); s.sendall(b'REGISTER lt9 lc9\n'); resp(s,'REGISTER lt9 lc9'); s.close(); time.sleep(0.3)
print('  /lookup lt9 after conn close:', urllib.request.urlopen('http://127.0.0.1:%d/'%LOOKUPD_HTTP_PORT+'channels?topic=lt9').read().decode(), urllib.request.urlopen('http://127.0.0.1:%d/'%LOOKUPD_HTTP_PORT+'topics').read().decode())
print('  /nodes:', urllib.request.urlopen('http://127.0.0.1:%d/'%LOOKUPD_HTTP_PORT+'nodes').read().decode())
