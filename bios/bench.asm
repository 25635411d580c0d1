; oxbox benchmark guest: a fixed real-mode loop mixing ALU, memory, string
; and branch instructions, for the criterion bench (benches/benches/cpu.rs).
; It runs ITERATIONS passes, then halts with interrupts disabled.
;
; Build: nasm -f bin -o ../roms/bench.bin bench.asm

%include "rom.inc"

ITERATIONS equ 5000

start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7C00
    mov ds, ax
    mov es, ax
    cld
    xor bx, bx
    xor dx, dx
    mov cx, ITERATIONS
.outer:
    ; ALU
    mov ax, cx
    add ax, bx
    xor dx, ax
    shl dx, 1
    adc bx, dx
    mov si, ax
    and si, 0x03FE
    ; memory
    mov [si + 0x1000], ax
    mov dx, [si + 0x1002]
    inc word [0x3000]
    add [0x3002], dx
    ; string: copy 16 words
    push cx
    mov cx, 16
    mov si, 0x1000
    mov di, 0x2000
    rep movsw
    ; a short inner loop with a data-dependent branch
    mov cx, 8
.inner:
    test cx, 1
    jz .even
    inc bx
    jmp .next
.even:
    dec dx
.next:
    loop .inner
    pop cx
    call .leaf
    loop .outer
    mov al, 'B'
    out DEBUGCON, al
    cli
    hlt

.leaf:
    push ax
    mov al, bl
    xlat
    pop ax
    ret

%include "rom_end.inc"
