; Window test for the PS/2 mouse: enables the 8042's auxiliary port and the
; mouse's data reporting, then polls the controller (no interrupts). Mouse
; packets (status bit 5 says a byte is the mouse's) add up the motion and
; record which buttons were ever down; row 2 shows them after each packet
; as "LRM XXXX YYYY" ('-' for a button never seen down, X and Y the 16-bit
; sums in hex, Y positive up as the mouse counts). Enter on the keyboard
; exits through port 0xF4 (status 0x29).
;
; Packet layout (IBM PS/2 Hardware Interface Technical Reference,
; "Pointing Device"): byte 0 = buttons (bits 0-2), always-1 (bit 3), X and
; Y sign (bits 4-5); bytes 1-2 = X and Y movement, low 8 bits.

%include "vga.inc"

SUM_X   equ 0x500
SUM_Y   equ 0x502
SEEN    equ 0x504               ; buttons ever down
PHASE   equ 0x505               ; byte of the packet expected next
PACKET  equ 0x506               ; 3 bytes

rom_start
    mov si, banner
    mov ah, 0x07
    call test_screen
    xor ax, ax
    mov es, ax
    mov word [es:SUM_X], 0
    mov word [es:SUM_Y], 0
    mov byte [es:SEEN], 0
    mov byte [es:PHASE], 0
    call show
    ; Enable the auxiliary port, then "enable data reporting" (0xF4) to
    ; the mouse; its acknowledge (0xFA) is read and dropped here (it has
    ; bit 3 set, so it would pass for the first byte of a packet).
    mov al, 0xA8
    out 0x64, al
    mov al, 0xD4
    out 0x64, al
    mov al, 0xF4
    out 0x60, al
.ack:
    in al, 0x64
    test al, 1
    jz .ack
    in al, 0x60
.poll:
    in al, 0x64
    test al, 1
    jz .poll
    mov ah, al
    in al, 0x60
    test ah, 0x20
    jnz .mouse
    cmp al, 0x1C                ; Enter (set 1, translated)
    jne .poll
    exit_with 0x14
.mouse:
    mov bl, [es:PHASE]
    xor bh, bh
    test bl, bl
    jnz .store
    test al, 0x08               ; a first byte always has bit 3 set
    jz .poll
.store:
    mov [es:PACKET + bx], al
    inc bl
    cmp bl, 3
    jb .more
    xor bl, bl
    mov [es:PHASE], bl
    call packet
    call show
    jmp .poll
.more:
    mov [es:PHASE], bl
    jmp .poll

; Add a complete packet to the sums.
packet:
    mov al, [es:PACKET]
    mov bl, al
    and bl, 0x07
    or [es:SEEN], bl
    ; X: 9-bit two's complement (sign in bit 4 of byte 0).
    mov cl, [es:PACKET + 1]
    xor ch, ch
    test al, 0x10
    jz .xpos
    mov ch, 0xFF
.xpos:
    add [es:SUM_X], cx
    mov cl, [es:PACKET + 2]
    xor ch, ch
    test al, 0x20
    jz .ypos
    mov ch, 0xFF
.ypos:
    add [es:SUM_Y], cx
    ret

; Row 2: "LRM XXXX YYYY".
show:
    push es
    mov bl, [es:SEEN]
    mov cx, [es:SUM_X]
    mov dx, [es:SUM_Y]
    mov ax, 0xB800
    mov es, ax
    mov di, 2 * 80 * 2
    mov ah, 0x07
    mov al, 'L'
    test bl, 1
    jnz .l
    mov al, '-'
.l:
    stosw
    mov al, 'R'
    test bl, 2
    jnz .r
    mov al, '-'
.r:
    stosw
    mov al, 'M'
    test bl, 4
    jnz .m
    mov al, '-'
.m:
    stosw
    mov al, ' '
    stosw
    mov bx, cx
    call hex16
    mov al, ' '
    stosw
    mov bx, dx
    call hex16
    pop es
    ret

; BX as four hex digits at ES:DI, attribute AH.
hex16:
    mov cx, 4
.digit:
    push cx
    mov cl, 4
    rol bx, cl
    pop cx
    mov al, bl
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .put
    add al, 'A' - '9' - 1
.put:
    stosw
    loop .digit
    ret

banner: db "MOUSE:", 0

rom_end
