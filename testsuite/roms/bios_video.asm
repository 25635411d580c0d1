; A boot sector for the video tests of oxbox's BIOS: the byte at offset
; 1F0h (patched by the test) picks what to do, then the CPU halts with
; interrupts off so the test can look at the VGA.
;   0: mode 13h; pixel (x, 0) = colour x for x < 16, (0, 1) = colour 0Fh.
;   1: VBE: 4F00h/4F01h/4F02h for mode 112h (640x480x24) with the linear
;      framebuffer; reports "vbe" AX(4F00) signature version AX(4F01)
;      width height bpp lfb AX(4F02) BX(4F03) in hex on port 0xE9.
;   2: text: AH=09h/0Eh/13h/06h and AH=02h/03h/08h, reported as "text"
;      lines.

bits 16
cpu 386
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    mov al, [what]
    cmp al, 0
    je mode13
    cmp al, 1
    je vbe
    jmp text

mode13:
    mov ax, 0x0013
    int 0x10
    push 0xA000
    pop es
    xor di, di
    xor al, al
.px:
    stosb
    inc al
    cmp al, 16
    jb .px
    mov byte [es:320], 0x0F
    jmp stop

vbe:
    push ds
    pop es
    mov ax, 0x4F00
    mov dword [0x1000], 'VBE2'
    mov di, 0x1000
    int 0x10
    call hex16
    mov eax, [0x1000]
    call hex32
    mov ax, [0x1004]
    call hex16
    mov ax, 0x4F01
    mov cx, 0x112
    mov di, 0x1400
    int 0x10
    call hex16
    mov ax, [0x1400 + 0x12]
    call hex16
    mov ax, [0x1400 + 0x14]
    call hex16
    movzx ax, byte [0x1400 + 0x19]
    call hex16
    mov eax, [0x1400 + 0x28]
    call hex32
    mov ax, 0x4F02
    mov bx, 0x4112
    int 0x10
    call hex16
    mov ax, 0x4F03
    int 0x10
    mov ax, bx
    call hex16
    jmp stop

text:
    mov ax, 0x0003              ; a clear screen
    int 0x10
    ; "AB" in attribute 1Eh at row 2, column 3 with AH=02h + AH=09h, AH=0Eh
    ; (AH=09h does not move the cursor; AH=0Eh writes B after A's cell).
    mov ah, 0x02
    xor bh, bh
    mov dx, 0x0203
    int 0x10
    mov ax, 0x0941
    mov bx, 0x001E
    mov cx, 1
    int 0x10
    mov ah, 0x02
    mov dx, 0x0204
    int 0x10
    mov ax, 0x0E42
    int 0x10
    ; AH=03h: the cursor moved one column.
    mov ah, 0x03
    xor bh, bh
    int 0x10
    mov ax, dx
    call hex16
    ; AH=08h at column 3: the A and its attribute.
    mov ah, 0x02
    mov dx, 0x0203
    int 0x10
    mov ah, 0x08
    int 0x10
    call hex16
    ; AH=13h: a string at row 5, column 0, attribute 2Fh.
    push ds
    pop es
    mov ax, 0x1301
    mov bx, 0x002F
    mov cx, msg_end - msg
    mov dx, 0x0500
    mov bp, msg
    int 0x10
    ; AH=06h: scroll rows 1-5 up by one (row 1 gets row 2, row 5 blank).
    mov ax, 0x0601
    mov bh, 0x07
    mov cx, 0x0100
    mov dx, 0x054F
    int 0x10
    ; AH=0Fh: mode, columns.
    mov ah, 0x0F
    int 0x10
    call hex16
    jmp stop

msg: db "string"
msg_end:

stop:
    mov al, 10
    out 0xE9, al
    cli
    hlt

hex16 equ report_hex16
hex32 equ report_hex

%include "bios_report.inc"

    times 0x1F0 - ($ - $$) db 0
what: db 0
    times 510 - ($ - $$) db 0
    dw 0xAA55
